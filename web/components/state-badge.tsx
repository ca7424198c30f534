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
