/**
 * Server-sent events over fetch, with reconnection that resumes where it left off.
 *
 * Not EventSource: the dashboard needs to send `Last-Event-ID` on every reconnect
 * (including after a page-level restart of the follow), see HTTP status codes and
 * problem+json bodies, and stop cleanly with an AbortSignal. The gateway's event
 * ids are stream versions, so resuming from the last id never skips or repeats one.
 */

export interface SSEMessage {
  event: string;
  data: string;
  id: string | null;
}

/** Incremental parser of the text/event-stream format (feed chunks, get messages). */
export class SSEParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;
  /** The id of the last dispatched message, or the last `id:` field seen. */
  lastEventId: string | null = null;

  feed(chunk: string): SSEMessage[] {
    this.buffer += chunk;
    const out: SSEMessage[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      // A lone trailing \r may be the first half of \r\n: wait for the next chunk.
      if (width === 1 && this.buffer[nl] === "\r" && nl === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(nl + width);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SSEMessage | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const message = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.data = [];
      this.event = "";
      return message;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) {
      this.id = value;
      this.lastEventId = value;
    }
    return null;
  }
}

export type FollowState = "connecting" | "open" | "reconnecting" | "closed";

export interface FollowOptions {
  url: string;
  /** Resume after this id (the first request sends it as Last-Event-ID too). */
  lastEventId?: string | null;
  onMessage: (message: SSEMessage) => void;
  onState?: (state: FollowState, detail?: string) => void;
  /** A 4xx answer stops the follow (reconnecting cannot fix it). */
  onFatal?: (response: Response) => void;
  signal: AbortSignal;
  fetch?: typeof fetch;
  /** Delay before reconnect attempt n (1-based), in ms. */
  backoff?: (attempt: number) => number;
  /** Resolves after ms (tests pass an immediate one). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function defaultBackoff(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 5000);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Follow an SSE URL until `signal` aborts: reconnect after a dropped or failed
 * connection with `Last-Event-ID` set to the last id received; resolve when stopped.
 */
export async function followEventStream(options: FollowOptions): Promise<void> {
  const doFetch = options.fetch ?? fetch;
  const backoff = options.backoff ?? defaultBackoff;
  const sleep = options.sleep ?? abortableSleep;
  const { signal } = options;
  let lastId = options.lastEventId ?? null;
  let failures = 0;
  while (!signal.aborted) {
    options.onState?.(failures === 0 ? "connecting" : "reconnecting");
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    try {
      const response = await doFetch(options.url, { headers, signal, credentials: "same-origin", cache: "no-store" });
      if (response.status >= 400 && response.status < 500) {
        options.onFatal?.(response);
        options.onState?.("closed", `HTTP ${response.status}`);
        return;
      }
      if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
      options.onState?.("open");
      const parser = new SSEParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const message of parser.feed(value)) {
          if (message.id !== null) lastId = message.id;
          failures = 0;
          options.onMessage(message);
        }
      }
    } catch (error) {
      if (signal.aborted) break;
      options.onState?.("reconnecting", error instanceof Error ? error.message : String(error));
    }
    if (signal.aborted) break;
    failures += 1;
    await sleep(backoff(failures), signal);
  }
  options.onState?.("closed");
}
