import { describe, expect, it } from "vitest";
import { followEventStream, SSEParser, type SSEMessage } from "./sse";

describe("SSEParser", () => {
  it("parses events split across arbitrary chunk boundaries", () => {
    const parser = new SSEParser();
    const text = ": keepalive\n\nevent: CheckpointRecorded\nid: 7\ndata: {\"a\":\ndata: 1}\n\r\nevent: X\r\nid: 8\r\ndata: y\r\n\r\n";
    const out: SSEMessage[] = [];
    for (const ch of text) out.push(...parser.feed(ch));
    expect(out).toEqual([
      { event: "CheckpointRecorded", data: '{"a":\n1}', id: "7" },
      { event: "X", data: "y", id: "8" },
    ]);
    expect(parser.lastEventId).toBe("8");
  });

  it("ignores comments and empty events, defaults the event name", () => {
    const parser = new SSEParser();
    expect(parser.feed(":c\n\nevent: only-name\n\ndata: d\n\n")).toEqual([{ event: "message", data: "d", id: null }]);
  });
});

function streamOf(chunks: string[], fail = false): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const queue = [...chunks];
  // Pull-based: every chunk is read before the stream ends or errors (a drop mid-event).
  return new ReadableStream({
    pull(controller) {
      const next = queue.shift();
      if (next !== undefined) controller.enqueue(enc.encode(next));
      else if (fail) controller.error(new Error("connection reset"));
      else controller.close();
    },
  });
}

describe("followEventStream", () => {
  it("reconnects after a drop with Last-Event-ID of the last event received", async () => {
    const seen: string[] = [];
    const requests: Array<Record<string, string>> = [];
    const controller = new AbortController();
    const answers = [
      () => new Response(streamOf(["id: 1\ndata: a\n\n", "id: 2\ndata: b\n\nid: 3\ndata: partial"], true), { status: 200 }),
      () => new Response(null, { status: 502 }),
      () => new Response(streamOf(["id: 3\ndata: c\n\n"]), { status: 200 }),
    ];
    const fakeFetch = (async (_url: string, init?: RequestInit) => {
      requests.push({ ...(init?.headers as Record<string, string>) });
      const answer = answers.shift();
      if (!answer) {
        controller.abort();
        throw new DOMException("aborted", "AbortError");
      }
      return answer();
    }) as typeof fetch;
    const states: string[] = [];
    await followEventStream({
      url: "/events",
      lastEventId: null,
      onMessage: (m) => seen.push(`${m.id}:${m.data}`),
      onState: (s) => states.push(s),
      signal: controller.signal,
      fetch: fakeFetch,
      sleep: async () => {},
    });
    expect(seen).toEqual(["1:a", "2:b", "3:c"]);
    expect(requests.map((h) => h["Last-Event-ID"] ?? null)).toEqual([null, "2", "2", "3"]);
    expect(requests.every((h) => h.Accept === "text/event-stream")).toBe(true);
    expect(states).toContain("reconnecting");
    expect(states.at(-1)).toBe("closed");
  });

  it("starts from a given id and stops on a 4xx without retrying", async () => {
    const requests: Array<Record<string, string>> = [];
    let fatal = 0;
    await followEventStream({
      url: "/events",
      lastEventId: "41",
      onMessage: () => {},
      onFatal: () => fatal++,
      signal: new AbortController().signal,
      fetch: (async (_u: string, init?: RequestInit) => {
        requests.push({ ...(init?.headers as Record<string, string>) });
        return new Response("{}", { status: 404 });
      }) as typeof fetch,
      sleep: async () => {},
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]!["Last-Event-ID"]).toBe("41");
    expect(fatal).toBe(1);
  });

  it("backs off between failed connections", async () => {
    const delays: number[] = [];
    const controller = new AbortController();
    let calls = 0;
    await followEventStream({
      url: "/events",
      onMessage: () => {},
      signal: controller.signal,
      fetch: (async () => {
        calls += 1;
        if (calls === 4) controller.abort();
        throw new TypeError("fetch failed");
      }) as typeof fetch,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    expect(delays).toEqual([250, 500, 1000]);
  });
});
