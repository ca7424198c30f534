import { describe, expect, it } from "vitest";
import { layoutTimeline, niceSpan, type StoredEvent } from "./timeline";
import { testStream } from "./test-events";

const stream = testStream();
const ev = stream.ev;

function failedThenResumed(): StoredEvent[] {
  stream.restart();
  return [
    ev("DevTaskCreated", 0, { backend: "deterministic_proof" }),
    ev("WorkspaceSeeded", 1, { file_count: 3 }),
    ev("AttemptStarted", 2, { attempt_no: 1 }),
    ev("CheckpointRecorded", 3, { attempt_no: 1, checkpoint_sequence_no: 1, durable: true, checkpoint_payload: { step: 0 } }),
    ev("CommandStarted", 4, { attempt_no: 1, command_id: "c1", argv: ["python3", "-c", "print(1)"] }),
    ev("CommandFinished", 5, { command_id: "c1", state: "exited", exit_code: 3 }),
    ev("AttemptFinished", 6, { attempt_no: 1, outcome: "failed", reason: "planned failure" }),
    ev("AttemptStarted", 8, { attempt_no: 2, resumed_from_checkpoint: 1 }),
    ev("CheckpointRecorded", 9, { attempt_no: 2, checkpoint_sequence_no: 2, durable: true, checkpoint_payload: { step: 1 } }),
    ev("ArtifactRecorded", 9, { name: "report.txt" }),
    ev("PatchProposed", 10, { attempt_no: 2, files_changed: 1, insertions: 2, deletions: 0 }),
    ev("AttemptFinished", 10, { attempt_no: 2, outcome: "succeeded" }),
    ev("TaskApproved", 12, { approved_by: "admin" }),
    ev("PatchApplied", 12, { mode: "direct" }),
  ];
}

describe("layoutTimeline", () => {
  it("puts each attempt in its own lane and task-level events in the task lane", () => {
    const layout = layoutTimeline(failedThenResumed(), {}, 0);
    expect(layout.lanes.map((l) => l.label)).toEqual(["Work Run", "Attempt 1", "Attempt 2"]);
    const [task, a1, a2] = layout.lanes;
    expect(task!.marks.map((m) => m.kind)).toEqual(["created", "seeded", "approval", "applied"]);
    expect(a1!.marks.map((m) => m.kind)).toEqual(["attempt", "checkpoint", "command", "attempt_end"]);
    // The artifact has no attempt_no: it belongs to the attempt running when it was recorded.
    expect(a2!.marks.map((m) => m.kind)).toEqual(["resume", "checkpoint", "artifact", "patch", "attempt_end"]);
    expect(a2!.resumedFrom).toBe(1);
    expect(a1!.outcome).toBe("failed");
  });

  it("places marks and lanes by time on a stepped scale", () => {
    const layout = layoutTimeline(failedThenResumed(), {}, 0);
    const a1 = layout.lanes[1]!;
    expect(layout.spanMs).toBe(20_000); // 12 s of events on the next 1-2-5 step
    expect(layout.marks[0]!.x).toBe(0);
    expect(layout.marks.at(-1)!.x).toBeCloseTo(12 / 20);
    expect(a1.startX).toBeCloseTo(2 / 20);
    expect(a1.endX).toBeCloseTo(6 / 20);
  });

  it("keeps placed marks still while a live span grows within its step", () => {
    const events = failedThenResumed();
    const before = layoutTimeline(events.slice(0, -1), {}, 0);
    const after = layoutTimeline(events, {}, 0);
    expect(before.spanMs).toBe(after.spanMs);
    expect(after.marks.length).toBe(before.marks.length + 1);
    expect(after.marks.slice(0, -1).map((m) => m.x)).toEqual(before.marks.map((m) => m.x));
  });

  it("steps the scale 1-2-5", () => {
    expect([0, 1, 999, 1000, 1001, 2500, 5000, 7000, 12_000].map(niceSpan)).toEqual([
      1, 1, 1000, 1000, 2000, 5000, 5000, 10_000, 20_000,
    ]);
  });

  it("merges a command's start and finish into one mark that carries the failure", () => {
    const layout = layoutTimeline(failedThenResumed(), {}, 0);
    const commands = layout.marks.filter((m) => m.kind === "command");
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({ commandId: "c1", failure: true });
    expect(commands[0]!.label).toContain("exit 3");
  });

  it("filters to failures only", () => {
    const layout = layoutTimeline(failedThenResumed(), { failuresOnly: true }, 0);
    expect(layout.marks.map((m) => m.label)).toEqual([
      "$ python3 -c print(1)  → exit 3",
      "attempt 1 failed: planned failure",
    ]);
    expect(layout.total).toBe(13);
  });

  it("searches labels, types and payloads case-insensitively", () => {
    expect(layoutTimeline(failedThenResumed(), { query: "REPORT.txt" }, 0).marks.map((m) => m.kind)).toEqual(["artifact"]);
    expect(layoutTimeline(failedThenResumed(), { query: '"step":1' }, 0).marks).toHaveLength(1);
    expect(layoutTimeline(failedThenResumed(), { query: "patchapplied" }, 0).marks.map((m) => m.kind)).toEqual(["applied"]);
  });

  it("stretches a running attempt to now", () => {
    const events = failedThenResumed().slice(0, 4);
    const now = Date.UTC(2026, 0, 1, 0, 0, 20);
    const layout = layoutTimeline(events, {}, now);
    expect(layout.lanes[1]!.endX).toBe(1);
    expect(layout.spanMs).toBe(20_000);
    expect(layout.marks.at(-1)!.x).toBeCloseTo(3 / 20);
  });

  it("lays out 5,000 events in one pass", () => {
    stream.restart();
    const events = [ev("DevTaskCreated", 0), ev("AttemptStarted", 0, { attempt_no: 1 })];
    for (let i = 0; i < 4998; i++) {
      events.push(ev("CheckpointRecorded", i % 60, { attempt_no: 1, checkpoint_sequence_no: i, durable: true }));
    }
    const layout = layoutTimeline(events, {}, 0);
    expect(layout.marks).toHaveLength(5000);
    expect(layout.lanes[1]!.marks).toHaveLength(4999);
  });
});
