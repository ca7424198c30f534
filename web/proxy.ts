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
// Next.js hands proxied bodies on through a clone it cuts at 10 MiB (its default), and the
// gateway's operator routes refuse more than 10 MiB anyway (Litestar's default) -- but it
// refuses before reading, so forwarding a bigger body ends in a broken pipe and a bare 500.
// Bigger declared bodies get the gateway's answer from here instead.
const MAX_FORWARDED_BODY = 10 * 1024 * 1024;

export function proxy(request: NextRequest): Response {
  const { pathname, search } = request.nextUrl;
  if (EVENTS_ROUTE.test(pathname)) return NextResponse.next();
  const origin = gatewayOrigin();
  if (origin === null) {
    return dashboardProblem(503, "unavailable", "Gateway not configured", "HIVE_GATEWAY_INTERNAL_URL is not set on the dashboard");
  }
  if (Number(request.headers.get("content-length") ?? "0") > MAX_FORWARDED_BODY) {
    return dashboardProblem(413, "payload_too_large", "Payload too large", `request bodies are limited to ${MAX_FORWARDED_BODY} bytes`);
  }
  return NextResponse.rewrite(new URL(pathname + search, origin));
}

export const config = { matcher: ["/api/:path*", "/healthz"] };
