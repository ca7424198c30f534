/** The dashboard's probe: answers from this process alone, never calling the gateway. */
export const dynamic = "force-dynamic";

export function GET(): Response {
  return Response.json({ status: "ok", role: "dashboard" }, { headers: { "cache-control": "no-store" } });
}
