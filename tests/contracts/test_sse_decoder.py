"""The incremental SSE decoder: same events whatever the chunking."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hive.contracts.sse import LineTooLong, SSEDecoder, SSEEvent

STREAM = (
    b": keepalive comment\n"
    b"event: response.created\n"
    b'data: {"type": "response.created"}\n'
    b"\n"
    b"id: 7\r\n"
    b"data: first line\r\n"
    b"data:second line\r\n"
    b"\r\n"
    b"data: [DONE]\r"
    b"\r"
)
EXPECTED = [
    SSEEvent(event="response.created", data='{"type": "response.created"}'),
    SSEEvent(data="first line\nsecond line", id="7"),
    SSEEvent(data="[DONE]", id="7"),  # the last event id persists (WHATWG)
]


def _decode(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out + decoder.close()


def test_whole_stream() -> None:
    assert _decode([STREAM]) == EXPECTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert _decode(chunks) == EXPECTED


def test_a_final_event_without_blank_line_is_flushed_on_close() -> None:
    assert _decode([b"data: tail"]) == [SSEEvent(data="tail")]


def test_lines_past_the_limit_are_refused() -> None:
    decoder = SSEDecoder(max_line_bytes=16)
    try:
        decoder.feed(b"data: " + b"x" * 64)
    except LineTooLong:
        return
    raise AssertionError("a 70-byte line passed a 16-byte limit")
