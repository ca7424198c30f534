"""Follow the global order live: catch up, then wait for a NOTIFY hint or the poll interval.

LISTEN/NOTIFY is only a wake-up hint: notifications can be dropped (a listener
connection that reconnects misses them), they are sent after appends return
(store.Notifier), and an event may not yet be below the xid8 horizon when one
arrives. So the subscriber also polls, and it never
trusts a notification's content, only re-reads from its cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from hive.events.connections import CHANNEL
from hive.events.records import START, Cursor, RecordedEvent
from hive.events.store import EventStore


async def subscribe(
    store: EventStore,
    after: Cursor = START,
    *,
    batch_size: int = 1000,
    poll_interval_s: float = 0.5,
    categories: Sequence[str] | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[list[RecordedEvent]]:
    """Yield batches of committed events in cursor order, forever (or until `stop`)."""
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None

    def hint(*_: object) -> None:
        wake.set()

    failures = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        listener = await store.pool.acquire()
    except failures:
        listener = None  # polling alone still delivers everything
    if listener is not None:
        try:
            await listener.add_listener(CHANNEL, hint)
        except failures:
            # Hand the connection back, or the pool can never close (it waits for it).
            await store.pool.release(listener)
            listener = None
    cursor = after
    try:
        while stop is None or not stop.is_set():
            wake.clear()
            batch = await store.read_all(cursor, limit=batch_size, categories=categories)
            if batch:
                cursor = batch[-1].cursor
                yield batch
                if len(batch) == batch_size:
                    continue
            waiters = [asyncio.ensure_future(wake.wait())]
            if stop is not None:
                waiters.append(asyncio.ensure_future(stop.wait()))
            _, pending = await asyncio.wait(
                waiters, timeout=poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for p in pending:
                p.cancel()
    finally:
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener(CHANNEL, hint)
            await store.pool.release(listener)
