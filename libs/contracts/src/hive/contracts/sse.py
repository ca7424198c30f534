"""Server-sent events: an incremental decoder fed with raw byte chunks.

Used where a stream is passed through and only observed (the gateway relay
reads usage from the final event while forwarding bytes untouched) and where
it is consumed (the task-relay client). Follows the WHATWG event-stream rules
that matter here: `\\n`, `\\r\\n` or `\\r` line ends, `:` comments, multi-line
`data`, dispatch on a blank line.
"""

from __future__ import annotations

import msgspec


class SSEEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One dispatched event."""

    event: str | None = None
    data: str = ""
    id: str | None = None


class LineTooLong(ValueError):
    """A line exceeded the decoder's limit (the stream is not SSE, or hostile)."""


class SSEDecoder:
    """Feed bytes, get complete events; keeps the partial line between chunks."""

    def __init__(self, *, max_line_bytes: int = 8 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._max = max_line_bytes

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode what `chunk` completes; raise LineTooLong past the limit."""
        self._buf += chunk
        out: list[SSEEvent] = []
        while True:
            cut = self._next_line_end()
            if cut is None:
                break
            end, width = cut
            line = bytes(self._buf[:end]).decode("utf-8", errors="replace")
            del self._buf[: end + width]
            event = self._line(line)
            if event is not None:
                out.append(event)
        if len(self._buf) > self._max:
            raise LineTooLong(f"SSE line longer than {self._max} bytes")
        return out

    def close(self) -> list[SSEEvent]:
        """Flush at end of stream: a final event without its blank line still counts."""
        out = self.feed(b"\n") if self._buf else []
        if self._data:
            out.append(self._dispatch())
        return out

    def _next_line_end(self) -> tuple[int, int] | None:
        lf = self._buf.find(b"\n")
        cr = self._buf.find(b"\r")
        if cr == -1 and lf == -1:
            return None
        if cr == -1 or (lf != -1 and lf < cr):
            return lf, 1
        if cr + 1 < len(self._buf):
            return cr, 2 if self._buf[cr + 1] == 0x0A else 1
        # A trailing \r may be the first half of \r\n: wait for the next chunk.
        return None

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch() if self._data or self._event is not None else None
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> SSEEvent:
        ev = SSEEvent(event=self._event, data="\n".join(self._data), id=self._id)
        self._event, self._data = None, []
        return ev
