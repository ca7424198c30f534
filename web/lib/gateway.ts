/**
 * Where the dashboard's server side finds the gateway (never the browser: it stays
 * same-origin). Read per request so one image serves any deployment.
 */

/** HIVE_GATEWAY_INTERNAL_URL without a trailing slash, or null when unset. */
export function gatewayOrigin(): string | null {
  // Bracket access: the value must come from the runtime environment, not the build.
  const raw = process.env["HIVE_GATEWAY_INTERNAL_URL"];
  return raw ? raw.replace(/\/+$/, "") : null;
}

/** Request headers worth forwarding to the gateway (cookies, CSRF, content type, SSE resume). */
export const FORWARDED_REQUEST_HEADERS = [
  "accept",
  "content-type",
  "cookie",
  "last-event-id",
  "x-csrftoken",
  "user-agent",
] as const;

/** A problem+json answer produced by the dashboard itself (the gateway is not configured or down). */
export function dashboardProblem(status: number, code: string, title: string, detail: string): Response {
  return new Response(JSON.stringify({ type: "about:blank", title, status, code, detail }), {
    status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
  });
}
