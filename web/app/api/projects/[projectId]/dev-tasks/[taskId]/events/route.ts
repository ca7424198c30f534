/**
 * The Work Run event stream, forwarded chunk by chunk: the upstream body is handed
 * to the response as it arrives (no buffering, no compression), and a client that
 * leaves aborts the upstream request. JSON pages of the same route pass through too.
 */
import type { NextRequest } from "next/server";
import { dashboardProblem, FORWARDED_REQUEST_HEADERS, gatewayOrigin } from "@/lib/gateway";

export const dynamic = "force-dynamic";

const PASSED_BACK = ["content-type", "set-cookie", "x-log-size", "x-next-offset"];

export async function GET(request: NextRequest): Promise<Response> {
  const origin = gatewayOrigin();
  if (origin === null) {
    return dashboardProblem(503, "unavailable", "Gateway not configured", "HIVE_GATEWAY_INTERNAL_URL is not set on the dashboard");
  }
  const headers = new Headers({ "accept-encoding": "identity" });
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  let upstream: Response;
  try {
    upstream = await fetch(origin + request.nextUrl.pathname + request.nextUrl.search, {
      headers,
      signal: request.signal,
      cache: "no-store",
      redirect: "manual",
    });
  } catch {
    return dashboardProblem(502, "upstream_error", "Gateway unreachable", "the dashboard could not reach the gateway");
  }
  const out = new Headers({ "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" });
  for (const name of PASSED_BACK) {
    const value = upstream.headers.get(name);
    if (value !== null) out.set(name, value);
  }
  return new Response(upstream.body, { status: upstream.status, headers: out });
}
