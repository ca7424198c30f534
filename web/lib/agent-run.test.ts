import { describe, expect, it } from "vitest";
import { layoutAgentRun, runBudget, runNotes } from "./agent-run";
import type { StoredEvent } from "./timeline";
import { testStream } from "./test-events";

const stream = testStream();
const ev = stream.ev;

/** A run that asked for approval of a tool call, then ran out of model calls and got a grant. */
function approvedThenGranted(): StoredEvent[] {
  stream.restart();
  return [
    ev("AgentRunStarted", 0, { run_id: "r1", input: "go", budget: { model_calls: 2, tokens: 1000, wall_s: 60 } }),
    ev("AgentModelCalled", 1, { step: 1, input_tokens: 100, output_tokens: 20 }),
    ev("AgentToolRequested", 2, { step: 1, call_id: "c1", tool: "create_dev_task", arguments: { instructions: "x" } }),
    ev("AgentApprovalRequested", 2, { request_id: "q1", reason: "approval", tool: "create_dev_task", why: "policy" }),
    ev("AgentApprovalDecided", 5, { request_id: "q1", approved: true, decided_by: "admin", grant: {} }),
    ev("AgentToolFinished", 6, { call_id: "c1", ok: false, result: { error: "boom" } }),
    ev("AgentMemoryNoted", 6, { call_id: "c2", note: "the build is slow" }),
    ev("AgentModelCalled", 7, { step: 2, input_tokens: 200, output_tokens: 30 }),
    ev("AgentApprovalRequested", 8, { request_id: "q2", reason: "budget", why: "model_calls exhausted" }),
    ev("AgentApprovalDecided", 9, { request_id: "q2", approved: true, decided_by: "ops", grant: { model_calls: 3, tokens: 500, wall_s: 10 } }),
    ev("AgentRunFinished", 10, { status: "completed", output: "done" }),
  ];
}

describe("layoutAgentRun", () => {
  it("puts each kind of event in its lane, in stream order", () => {
    const layout = layoutAgentRun(approvedThenGranted());
    expect(layout.lanes.map((l) => [l.label, l.marks.length])).toEqual([
      ["Run", 2],
      ["Model", 2],
      ["Tools", 2],
      ["Operator", 4],
      ["Memory", 1],
    ]);
    expect(layout.marks.map((m) => m.version)).toEqual(approvedThenGranted().map((e) => e.stream_version));
    expect(layout.marks[2]?.label).toBe('create_dev_task({"instructions":"x"})');
    expect(layout.marks[5]?.label).toContain("create_dev_task failed");
    expect(layout.marks[4]?.label).toBe("approved by admin");
    expect(layout.marks.at(-1)?.kind).toBe("finished");
  });

  it("places marks by time on a stepped scale and ends at the finish", () => {
    const layout = layoutAgentRun(approvedThenGranted(), {}, Date.UTC(2030, 0, 1));
    expect(layout.spanMs).toBe(10_000);
    expect(layout.marks[0]?.x).toBe(0);
    expect(layout.marks.at(-1)?.x).toBe(1);
  });

  it("stretches an unfinished run to now", () => {
    const events = approvedThenGranted().slice(0, 4);
    const now = Date.UTC(2026, 0, 1, 0, 0, 20);
    const layout = layoutAgentRun(events, {}, now);
    expect(layout.end).toBe(now);
    expect(layout.spanMs).toBe(20_000);
  });

  it("filters to failures and by text", () => {
    const events = approvedThenGranted();
    expect(layoutAgentRun(events, { failuresOnly: true }).marks.map((m) => m.type)).toEqual(["AgentToolFinished"]);
    const found = layoutAgentRun(events, { query: "SLOW" });
    expect(found.marks.map((m) => m.type)).toEqual(["AgentMemoryNoted"]);
    expect(found.total).toBe(events.length);
  });

  it("marks a failed or cancelled run as a failure", () => {
    stream.restart();
    const events = [ev("AgentRunStarted", 0, { input: "go" }), ev("AgentRunFinished", 1, { status: "cancelled", error: "budget exhausted" })];
    const last = layoutAgentRun(events).marks.at(-1);
    expect(last?.failure).toBe(true);
    expect(last?.label).toBe("cancelled: budget exhausted");
  });
});

describe("runBudget", () => {
  it("adds grants to the started limits and counts usage from the stream", () => {
    const budget = runBudget(approvedThenGranted());
    expect(budget.lines).toEqual([
      { name: "model_calls", label: "Model calls", limit: 5, used: 2 },
      { name: "tokens", label: "Tokens", limit: 1500, used: 350 },
      { name: "wall_s", label: "Wall time (s)", limit: 70, used: 10 },
    ]);
    // An approval without a grant is not a grant.
    expect(budget.grants).toEqual([{ by: "ops", grant: { model_calls: 3, tokens: 500, wall_s: 10 } }]);
  });

  it("counts wall time to now while the run goes on", () => {
    const events = approvedThenGranted().slice(0, 2);
    expect(runBudget(events, Date.UTC(2026, 0, 1, 0, 0, 30)).lines[2]?.used).toBe(30);
  });

  it("has no limits before the run started", () => {
    expect(runBudget([]).lines.map((l) => l.limit)).toEqual([null, null, null]);
  });
});

describe("runNotes", () => {
  it("lists what the run asked to remember", () => {
    expect(runNotes(approvedThenGranted())).toEqual([{ version: 7, note: "the build is slow" }]);
  });
});
