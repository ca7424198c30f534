/**
 * The Work Run timeline: its typed event stream folded into one lane per attempt
 * (plus a task lane for what belongs to no attempt), with marks placed by time.
 *
 * Pure and O(events): the detail page re-runs it on every live batch, and it has to
 * stay fast at 5,000 events (the stream's warning length is in that range).
 */
import type { components } from "@/lib/api/schema";

export type StoredEvent = components["schemas"]["StoredEvent"];

export type MarkKind =
  | "created"
  | "seeded"
  | "attempt"
  | "resume"
  | "attempt_end"
  | "checkpoint"
  | "command"
  | "artifact"
  | "patch"
  | "approval"
  | "rejection"
  | "applied"
  | "apply_failed"
  | "stale"
  | "requeued"
  | "cancelled"
  // agent runs (lib/agent-run.ts)
  | "run"
  | "model"
  | "tool"
  | "request"
  | "decision"
  | "note"
  | "finished"
  | "other";

export interface TimelineMark {
  /** stream_version of the event that made the mark (unique within a Work Run). */
  version: number;
  type: string;
  kind: MarkKind;
  /** Attempt lane, or null for the task lane. */
  attemptNo: number | null;
  /** The lane's short name in the event list when it is not an attempt (agent runs). */
  laneLabel?: string;
  at: number;
  label: string;
  failure: boolean;
  payload: Record<string, unknown>;
  /** Set on command marks: the command's id (its log is fetched by it). */
  commandId?: string;
  /** 0..1 across the timeline's time span. */
  x: number;
}

export interface Lane {
  key: string;
  attemptNo: number | null;
  label: string;
  startX: number;
  endX: number;
  outcome: string | null;
  resumedFrom: number | null;
  marks: TimelineMark[];
}

export interface TimelineLayout {
  lanes: Lane[];
  /** Every shown mark in stream order (the keyboard list). */
  marks: TimelineMark[];
  start: number;
  end: number;
  /** The scale's width in ms: end - start rounded up to 1, 2 or 5 x 10^k (see niceSpan). */
  spanMs: number;
  total: number;
}

export interface TimelineFilter {
  failuresOnly?: boolean;
  query?: string;
}

const OK_OUTCOMES = new Set(["succeeded", "no_changes"]);

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" ? v : null;
}

interface AttemptSpan {
  attemptNo: number;
  start: number;
  end: number | null;
  outcome: string | null;
  resumedFrom: number | null;
}

/** Fold the stream into marks (commands merged start+finish) and attempt spans. */
export function foldEvents(events: readonly StoredEvent[]): {
  marks: TimelineMark[];
  attempts: Map<number, AttemptSpan>;
} {
  const marks: TimelineMark[] = [];
  const attempts = new Map<number, AttemptSpan>();
  const commands = new Map<string, TimelineMark>();
  let current: number | null = null;
  for (const e of events) {
    const p = e.payload;
    const at = Date.parse(e.recorded_at);
    const attemptNo = num(p.attempt_no);
    const mark = (kind: MarkKind, label: string, failure = false, lane = attemptNo ?? current): TimelineMark => {
      const m: TimelineMark = { version: e.stream_version, type: e.event_type, kind, attemptNo: lane, at, label, failure, payload: p, x: 0 };
      marks.push(m);
      return m;
    };
    switch (e.event_type) {
      case "DevTaskCreated":
        mark("created", `created (${str(p.backend) ?? "?"})`, false, null);
        break;
      case "WorkspaceSeeded":
        mark("seeded", `workspace seeded: ${num(p.file_count) ?? 0} files`, false, null);
        break;
      case "AttemptStarted": {
        const n = attemptNo ?? attempts.size + 1;
        const resumed = num(p.resumed_from_checkpoint);
        current = n;
        attempts.set(n, { attemptNo: n, start: at, end: null, outcome: null, resumedFrom: resumed });
        if (resumed !== null) mark("resume", `attempt ${n} resumed from checkpoint ${resumed}`, false, n);
        else mark("attempt", `attempt ${n} started`, false, n);
        break;
      }
      case "AttemptFinished": {
        const outcome = str(p.outcome) ?? "unknown";
        const span = attemptNo !== null ? attempts.get(attemptNo) : undefined;
        if (span) {
          span.end = at;
          span.outcome = outcome;
        }
        const reason = str(p.reason);
        mark("attempt_end", `attempt ${attemptNo ?? "?"} ${outcome}${reason ? `: ${reason}` : ""}`, !OK_OUTCOMES.has(outcome));
        break;
      }
      case "AttemptMarkedStale": {
        const span = attemptNo !== null ? attempts.get(attemptNo) : undefined;
        if (span) {
          span.end = at;
          span.outcome = "stale";
        }
        mark("stale", `attempt ${attemptNo ?? "?"} stale: ${str(p.reason) ?? ""}`, true);
        break;
      }
      case "CheckpointRecorded": {
        const seq = num(p.checkpoint_sequence_no);
        const durable = p.durable === true ? "durable" : "non-durable";
        mark("checkpoint", `checkpoint ${seq ?? "?"} (${durable})`);
        break;
      }
      case "CommandStarted": {
        const argv = Array.isArray(p.argv) ? p.argv.map(String).join(" ") : "";
        const m = mark("command", `$ ${argv}`);
        const id = str(p.command_id);
        if (id) {
          m.commandId = id;
          commands.set(id, m);
        }
        break;
      }
      case "CommandFinished": {
        const id = str(p.command_id);
        const started = id ? commands.get(id) : undefined;
        const state = str(p.state) ?? "?";
        const code = num(p.exit_code);
        const failed = state !== "exited" || (code !== null && code !== 0);
        const outcome = state === "exited" ? `exit ${code ?? "?"}` : state;
        if (started) {
          // One mark per command: its start, labelled with how it ended.
          started.label = `${started.label}  → ${outcome}`;
          started.failure = failed;
          started.payload = { ...started.payload, finished: p };
        } else {
          const m = mark("command", `command ${id ?? "?"} → ${outcome}`, failed);
          if (id) m.commandId = id;
        }
        break;
      }
      case "ArtifactRecorded":
        mark("artifact", `artifact ${str(p.name) ?? "?"}`);
        break;
      case "PatchProposed":
        mark("patch", `patch: ${num(p.files_changed) ?? 0} files, +${num(p.insertions) ?? 0} −${num(p.deletions) ?? 0}`);
        break;
      case "TaskApproved":
        mark("approval", `approved by ${str(p.approved_by) ?? "?"}`, false, null);
        break;
      case "TaskRejected":
        mark("rejection", `rejected by ${str(p.rejected_by) ?? "?"}${str(p.reason) ? `: ${str(p.reason)}` : ""}`, false, null);
        break;
      case "PatchApplied":
        mark("applied", `applied (${str(p.mode) ?? "?"})`, false, null);
        break;
      case "PatchApplyFailed":
        mark("apply_failed", `apply failed: ${str(p.reason) ?? ""}`, true, null);
        break;
      case "TaskRequeued":
        mark("requeued", `requeued as ${str(p.new_task_id) ?? "?"}`, false, null);
        break;
      case "TaskCancelled":
        mark("cancelled", `cancelled${str(p.cancelled_by) ? ` by ${str(p.cancelled_by)}` : ""}`, false, null);
        break;
      default:
        mark("other", e.event_type);
    }
  }
  return { marks, attempts };
}

function matches(m: TimelineMark, needle: string): boolean {
  if (m.label.toLowerCase().includes(needle) || m.type.toLowerCase().includes(needle)) return true;
  return JSON.stringify(m.payload).toLowerCase().includes(needle);
}

/**
 * The scale for a span: the next 1, 2 or 5 x 10^k ms at or above it. A live timeline's
 * span grows with every event; a scale that only steps now and then keeps every placed
 * mark where it was, so a new event adds one element instead of moving 5,000 (moving
 * them all is a style recalculation of every mark: ~250 ms per event in Chromium).
 */
export function niceSpan(ms: number): number {
  const span = Math.max(ms, 1);
  const decade = 10 ** Math.floor(Math.log10(span));
  for (const step of [1, 2, 5, 10]) if (step * decade >= span) return step * decade;
  return 10 * decade;
}

/** Lanes and placed marks for the events, narrowed by the filter. */
export function layoutTimeline(
  events: readonly StoredEvent[],
  filter: TimelineFilter = {},
  now: number = Date.now(),
): TimelineLayout {
  const { marks, attempts } = foldEvents(events);
  const start = marks[0]?.at ?? now;
  let end = marks.at(-1)?.at ?? start;
  for (const span of attempts.values()) if (span.end === null) end = Math.max(end, now);
  const width = niceSpan(end - start);
  const xOf = (t: number) => Math.min(1, Math.max(0, (t - start) / width));
  const needle = (filter.query ?? "").trim().toLowerCase();
  const shown: TimelineMark[] = [];
  for (const m of marks) {
    m.x = xOf(m.at);
    if (filter.failuresOnly && !m.failure) continue;
    if (needle && !matches(m, needle)) continue;
    shown.push(m);
  }
  const lanes: Lane[] = [
    { key: "task", attemptNo: null, label: "Work Run", startX: 0, endX: 1, outcome: null, resumedFrom: null, marks: [] },
  ];
  const byAttempt = new Map<number, Lane>();
  for (const span of [...attempts.values()].sort((a, b) => a.attemptNo - b.attemptNo)) {
    const lane: Lane = {
      key: `attempt-${span.attemptNo}`,
      attemptNo: span.attemptNo,
      label: `Attempt ${span.attemptNo}`,
      startX: xOf(span.start),
      endX: span.end === null ? 1 : xOf(span.end),
      outcome: span.outcome,
      resumedFrom: span.resumedFrom,
      marks: [],
    };
    byAttempt.set(span.attemptNo, lane);
    lanes.push(lane);
  }
  const taskLane = lanes[0] as Lane;
  for (const m of shown) (m.attemptNo !== null ? (byAttempt.get(m.attemptNo) ?? taskLane) : taskLane).marks.push(m);
  return { lanes, marks: shown, start, end, spanMs: width, total: marks.length };
}
