/**
 * Paging through a command log that may be 100 MB: open at the tail, page backwards
 * (and forwards while it grows), and keep only a bounded window of text in memory.
 * Offsets are bytes (the sandbox's X-Log-Size / X-Next-Offset).
 */

export const LOG_PAGE_BYTES = 64 * 1024;
export const LOG_WINDOW_BYTES = 1024 * 1024;

export interface LogRange {
  offset: number;
  limit: number;
}

export interface LogChunk {
  start: number;
  end: number;
  text: string;
}

/** The last page of a log of `size` bytes (a whole page even for an empty log, to see growth). */
export function tailRange(size: number, page = LOG_PAGE_BYTES): LogRange {
  const offset = Math.max(0, size - page);
  return { offset, limit: Math.max(size - offset, 1) };
}

/** The page just before the first byte shown, or null at the start of the log. */
export function earlierRange(firstShown: number, page = LOG_PAGE_BYTES): LogRange | null {
  if (firstShown <= 0) return null;
  const offset = Math.max(0, firstShown - page);
  return { offset, limit: firstShown - offset };
}

/**
 * Add a chunk on the side it belongs to and drop chunks from the other side past
 * `maxBytes`, so paging through a huge log never holds more than the window.
 */
export function addChunk(chunks: readonly LogChunk[], chunk: LogChunk, maxBytes = LOG_WINDOW_BYTES): LogChunk[] {
  if (chunk.end <= chunk.start) return [...chunks];
  const before = chunks.length > 0 && chunk.end <= (chunks[0] as LogChunk).start;
  const out = before ? [chunk, ...chunks] : [...chunks, chunk];
  let total = out.reduce((n, c) => n + (c.end - c.start), 0);
  while (out.length > 1 && total > maxBytes) {
    const dropped = before ? out.pop() : out.shift();
    total -= dropped ? dropped.end - dropped.start : 0;
  }
  return out;
}
