"""The relay cuts the vendor key out of a streamed answer however the upstream splits it
into chunks (the key straddling any chunk boundary, several times, or at the very end)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hive.gateway.relay.model_relay import REDACTED, StreamRedactor

KEY = b"sk-vendor-key-0123456789abcdef"


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A body holding the key a few times, and a random split of it into chunks."""
    parts = draw(st.lists(st.binary(max_size=40), min_size=1, max_size=5))
    body = KEY.join(parts) if len(parts) > 1 else parts[0] + KEY
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    return body, chunks


@given(streams())
def test_a_key_split_across_chunks_never_passes(stream: tuple[bytes, list[bytes]]) -> None:
    body, chunks = stream
    redactor = StreamRedactor(KEY)
    out = [redactor.feed(c) for c in chunks]
    out.append(redactor.flush())
    forwarded = b"".join(out)
    assert KEY not in forwarded
    assert forwarded == body.replace(KEY, REDACTED)


def test_an_sse_event_is_not_held_back() -> None:
    redactor = StreamRedactor(KEY)
    event = b'data: {"delta": "hello"}\n\n'
    assert redactor.feed(event) == event
