/**
 * An agent run's stream (`agentrun-<run_id>`, the Agent* events of libs/contracts
 * events.py) read for the dashboard: a timeline with one lane per kind of work (the
 * run itself, model calls, tool calls, operator requests and decisions, memory notes),
 * and the run's budget: its limits (AgentRunStarted.budget plus every grant) against
 * what it used.
 *
 * Pure: the run page re-runs it on every poll.
 */
import { niceSpan, type Lane, type MarkKind, type StoredEvent, type TimelineFilter, type TimelineLayout, type TimelineMark } from "@/lib/timeline";

const LANES = [
  ["run", "Run"],
  ["model", "Model"],
  ["tools", "Tools"],
  ["operator", "Operator"],
  ["memory", "Memory"],
] as const;
type LaneKey = (typeof LANES)[number][0];

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function brief(v: unknown, max = 60): string {
  const text = typeof v === "string" ? v : JSON.stringify(v ?? {});
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

interface Placed {
  lane: LaneKey;
  kind: MarkKind;
  label: string;
  failure: boolean;
}

/** What one event draws, or null for an event type this dashboard does not know. */
function place(e: StoredEvent, tools: Map<string, string>): Placed {
  const p = e.payload;
  switch (e.event_type) {
    case "AgentRunStarted":
      return { lane: "run", kind: "run", label: `started${str(p.schedule_id) ? ` by schedule ${str(p.schedule_id)}` : ""}: ${brief(p.input)}`, failure: false };
    case "AgentRunResumed":
      return { lane: "run", kind: "run", label: `resumed${str(p.input) ? `: ${brief(p.input)}` : ""}`, failure: false };
    case "AgentRunFinished": {
      const status = str(p.status) ?? "?";
      return { lane: "run", kind: "finished", label: `${status}${str(p.error) ? `: ${str(p.error)}` : str(p.output) ? `: ${brief(p.output)}` : ""}`, failure: status !== "completed" };
    }
    case "AgentModelCalled":
      return { lane: "model", kind: "model", label: `model call ${num(p.step)} (${num(p.input_tokens) + num(p.output_tokens)} tokens)`, failure: false };
    case "AgentToolRequested": {
      const tool = str(p.tool) ?? "?";
      const callId = str(p.call_id);
      if (callId) tools.set(callId, tool);
      return { lane: "tools", kind: "tool", label: `${tool}(${brief(p.arguments, 40)})`, failure: false };
    }
    case "AgentToolFinished": {
      const tool = tools.get(str(p.call_id) ?? "") ?? "tool";
      const ok = p.ok === true;
      return { lane: "tools", kind: "tool", label: `${tool} ${ok ? "ok" : "failed"}: ${brief(p.result, 40)}`, failure: !ok };
    }
    case "AgentApprovalRequested":
      return {
        lane: "operator",
        kind: "request",
        label: str(p.reason) === "budget" ? `budget exhausted: ${str(p.why) ?? ""}` : `approval asked for ${str(p.tool) ?? "?"}: ${str(p.why) ?? ""}`,
        failure: false,
      };
    case "AgentApprovalDecided": {
      const grant = p.grant && typeof p.grant === "object" && Object.keys(p.grant).length ? ` (grant ${brief(p.grant, 50)})` : "";
      return { lane: "operator", kind: "decision", label: `${p.approved === true ? "approved" : "declined"} by ${str(p.decided_by) ?? "?"}${grant}`, failure: false };
    }
    case "AgentMemoryNoted":
      return { lane: "memory", kind: "note", label: `noted: ${brief(p.note)}`, failure: false };
    default:
      return { lane: "run", kind: "other", label: e.event_type, failure: false };
  }
}

function matches(m: TimelineMark, needle: string): boolean {
  return m.label.toLowerCase().includes(needle) || m.type.toLowerCase().includes(needle) || JSON.stringify(m.payload).toLowerCase().includes(needle);
}

/** The run's lanes and placed marks (the same shape as a Work Run's, so one component draws both). */
export function layoutAgentRun(events: readonly StoredEvent[], filter: TimelineFilter = {}, now: number = Date.now()): TimelineLayout {
  const tools = new Map<string, string>();
  const all: TimelineMark[] = [];
  const laneOf = new Map<number, LaneKey>();
  let finished = false;
  for (const e of events) {
    const placed = place(e, tools);
    if (e.event_type === "AgentRunFinished") finished = true;
    laneOf.set(e.stream_version, placed.lane);
    all.push({
      version: e.stream_version,
      type: e.event_type,
      kind: placed.kind,
      attemptNo: null,
      laneLabel: placed.lane,
      at: Date.parse(e.recorded_at),
      label: placed.label,
      failure: placed.failure,
      payload: e.payload,
      x: 0,
    });
  }
  const start = all[0]?.at ?? now;
  // A run still going stretches to now, like a running attempt.
  const end = finished ? (all.at(-1)?.at ?? start) : Math.max(all.at(-1)?.at ?? start, now);
  const width = niceSpan(end - start);
  const needle = (filter.query ?? "").trim().toLowerCase();
  const lanes = new Map<LaneKey, Lane>(
    LANES.map(([key, label]) => [key, { key, attemptNo: null, label, startX: 0, endX: 1, outcome: null, resumedFrom: null, marks: [] }]),
  );
  const shown: TimelineMark[] = [];
  for (const m of all) {
    m.x = Math.min(1, Math.max(0, (m.at - start) / width));
    if (filter.failuresOnly && !m.failure) continue;
    if (needle && !matches(m, needle)) continue;
    shown.push(m);
    lanes.get(laneOf.get(m.version) ?? "run")?.marks.push(m);
  }
  return { lanes: [...lanes.values()], marks: shown, start, end, spanMs: width, total: all.length };
}

export interface BudgetLine {
  name: "model_calls" | "tokens" | "wall_s";
  label: string;
  limit: number | null;
  used: number;
}

export interface RunBudgetView {
  lines: BudgetLine[];
  /** Grants by operators, oldest first. */
  grants: { by: string; grant: Record<string, number> }[];
}

/**
 * The run's budget: limits from AgentRunStarted.budget plus every granted amount; usage
 * counted from the stream (model calls, their tokens, wall time from start to the last
 * event, or to `now` while the run goes on).
 */
export function runBudget(events: readonly StoredEvent[], now: number = Date.now()): RunBudgetView {
  const limits: Record<BudgetLine["name"], number | null> = { model_calls: null, tokens: null, wall_s: null };
  const grants: RunBudgetView["grants"] = [];
  let calls = 0;
  let tokens = 0;
  let startedAt: number | null = null;
  let endedAt: number | null = null;
  for (const e of events) {
    const p = e.payload;
    if (e.event_type === "AgentRunStarted") {
      startedAt = Date.parse(e.recorded_at);
      const b = (p.budget ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(limits) as BudgetLine["name"][]) if (typeof b[k] === "number") limits[k] = b[k] as number;
    } else if (e.event_type === "AgentModelCalled") {
      calls += 1;
      tokens += num(p.input_tokens) + num(p.output_tokens);
    } else if (e.event_type === "AgentApprovalDecided" && p.grant && typeof p.grant === "object") {
      const g = p.grant as Record<string, unknown>;
      const granted: Record<string, number> = {};
      for (const k of Object.keys(limits) as BudgetLine["name"][]) {
        if (typeof g[k] !== "number") continue;
        granted[k] = g[k] as number;
        limits[k] = (limits[k] ?? 0) + (g[k] as number);
      }
      if (Object.keys(granted).length) grants.push({ by: str(p.decided_by) ?? "?", grant: granted });
    } else if (e.event_type === "AgentRunFinished") {
      endedAt = Date.parse(e.recorded_at);
    }
  }
  const wall = startedAt === null ? 0 : ((endedAt ?? now) - startedAt) / 1000;
  return {
    lines: [
      { name: "model_calls", label: "Model calls", limit: limits.model_calls, used: calls },
      { name: "tokens", label: "Tokens", limit: limits.tokens, used: tokens },
      { name: "wall_s", label: "Wall time (s)", limit: limits.wall_s, used: Math.round(wall) },
    ],
    grants,
  };
}

/** The run's memory notes (AgentMemoryNoted), oldest first. */
export function runNotes(events: readonly StoredEvent[]): { version: number; note: string }[] {
  return events.filter((e) => e.event_type === "AgentMemoryNoted").map((e) => ({ version: e.stream_version, note: str(e.payload.note) ?? "" }));
}
