const TONES: Record<string, string> = {
  queued: "text-muted border-line",
  running: "text-accent border-accent",
  stale: "text-warn border-warn",
  awaiting_review: "text-warn border-warn",
  approved: "text-accent border-accent",
  applied: "text-ok border-ok",
  apply_failed: "text-danger border-danger",
  rejected: "text-danger border-danger",
  failed: "text-danger border-danger",
  cancelled: "text-muted border-line",
  // agents and their runs
  awaiting_input: "text-warn border-warn",
  completed: "text-ok border-ok",
  ready: "text-ok border-ok",
  starting: "text-muted border-line",
  stopped: "text-muted border-line",
  silent: "text-danger bg-del border-danger font-semibold",
  // schedule firings
  fired: "text-ok border-ok",
  skipped: "text-muted border-line",
  missed: "text-danger border-danger",
  paused: "text-warn border-warn",
};

export function StateBadge({ state }: { state: string }) {
  return (
    <span
      data-state={state}
      className={`inline-block rounded-full border px-2 py-0.5 font-mono text-xs ${TONES[state] ?? "text-fg border-line"}`}
    >
      {state}
    </span>
  );
}
