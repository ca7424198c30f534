/** Short human durations for tables ("42s", "5m", "3h", "2d"). */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Age of an ISO timestamp relative to `now` (ms). */
export function age(iso: string, now: number = Date.now()): string {
  return shortDuration((now - Date.parse(iso)) / 1000);
}

/** Bytes as B/KiB/MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
