import { describe, expect, it } from "vitest";
import { addChunk, earlierRange, tailRange } from "./log-window";

describe("log window", () => {
  it("opens at the tail of a 100 MB log", () => {
    expect(tailRange(100 * 1024 * 1024, 65536)).toEqual({ offset: 100 * 1024 * 1024 - 65536, limit: 65536 });
    expect(tailRange(10, 65536)).toEqual({ offset: 0, limit: 10 });
    expect(tailRange(0, 65536)).toEqual({ offset: 0, limit: 1 });
  });

  it("pages backwards to the first byte and stops there", () => {
    expect(earlierRange(100_000, 65536)).toEqual({ offset: 100_000 - 65536, limit: 65536 });
    expect(earlierRange(1000, 65536)).toEqual({ offset: 0, limit: 1000 });
    expect(earlierRange(0, 65536)).toBeNull();
  });

  it("keeps a bounded window, dropping the side away from the newest page", () => {
    let chunks = addChunk([], { start: 300, end: 400, text: "d" }, 250);
    chunks = addChunk(chunks, { start: 200, end: 300, text: "c" }, 250);
    chunks = addChunk(chunks, { start: 100, end: 200, text: "b" }, 250);
    expect(chunks.map((c) => c.text)).toEqual(["b", "c"]);
    chunks = addChunk(chunks, { start: 300, end: 400, text: "d" }, 250);
    expect(chunks.map((c) => c.text)).toEqual(["c", "d"]);
    expect(addChunk(chunks, { start: 400, end: 400, text: "" }, 250)).toEqual(chunks);
  });
});
