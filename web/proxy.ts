/**
 * Same-origin hop: the browser only ever talks to the dashboard; `/api/*` and
 * `/healthz` are forwarded server-side to HIVE_GATEWAY_INTERNAL_URL, cookies both
 * ways (the request's Cookie header goes up, the gateway's Set-Cookie comes back).
 *
 * The Work Run event stream is the exception: rewrites may buffer, so SSE goes
 * through its route handler (app/api/projects/[projectId]/dev-tasks/[taskId]/events).
 */
import { NextResponse, type NextRequest } from "next/server";
import { dashboardProblem, gatewayOrigin } from "@/lib/gateway";

const EVENTS_ROUTE = /^\/api\/projects\/[^/]+\/dev-tasks\/[^/]+\/events\/?$/;

export function proxy(request: NextRequest): Response {
  const { pathname, search } = request.nextUrl;
  if (EVENTS_ROUTE.test(pathname)) return NextResponse.next();
  const origin = gatewayOrigin();
  if (origin === null) {
    return dashboardProblem(503, "unavailable", "Gateway not configured", "HIVE_GATEWAY_INTERNAL_URL is not set on the dashboard");
  }
  return NextResponse.rewrite(new URL(pathname + search, origin));
}

export const config = { matcher: ["/api/:path*", "/healthz"] };
