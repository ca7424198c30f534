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
from typing import Any

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


class ReadCountingStore(EventStore):
    """The real store, counting read_all calls so a test can tell when a subscriber has
    polled (an instrumented store, not a double: every read still hits PostgreSQL)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0

    async def read_all(self, *args: Any, **kwargs: Any) -> list[RecordedEvent]:
        """read_all, counted once it returned."""
        result = await super().read_all(*args, **kwargs)
        self.reads += 1
        return result

    async def wait_for_reads(self, n: int, deadline_s: float = DEADLINE_S) -> None:
        """Poll until read_all has returned at least `n` times in total."""
        deadline = time.monotonic() + deadline_s
        while self.reads < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.reads} reads, waited for {n}")
            await asyncio.sleep(0.01)
