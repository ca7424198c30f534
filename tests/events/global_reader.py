"""Read the global order the way a subscriber does: page read_all with a cursor.

The xid8 horizon is cluster-wide: a write transaction open in *any* database
of the server (another test session, a benchmark) holds every reader back
until it ends. So tests wait for the events they expect with a deadline
instead of expecting them on the first read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from hive.events import START, Cursor, EventStore, RecordedEvent

DEADLINE_S = 60.0


async def read_all_until(
    store: EventStore,
    count: int,
    *,
    categories: Sequence[str] | None = None,
    after: Cursor = START,
    limit: int = 1000,
    deadline_s: float = DEADLINE_S,
) -> list[RecordedEvent]:
    """Page read_all from `after` until at least `count` events came, or the deadline."""
    seen: list[RecordedEvent] = []
    cursor = after
    deadline = time.monotonic() + deadline_s
    while True:
        batch = await store.read_all(cursor, limit=limit, categories=categories)
        seen.extend(batch)
        if batch:
            cursor = batch[-1].cursor
            continue
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.02)
