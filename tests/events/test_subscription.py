"""subscribe(): LISTEN/NOTIFY wakes a parked subscriber; without notifications, polling delivers."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from global_reader import DEADLINE_S, ReadCountingStore
from store_contract import events, new_category

from hive.events import NO_STREAM, EventStore, RecordedEvent, subscribe
from hive.events.store import CHANNEL, init_connection


async def wait_nudging(
    pending: asyncio.Future[list[RecordedEvent]], pool: asyncpg.Pool, seconds: float
) -> list[RecordedEvent]:
    """Wait for a subscriber's next batch, sending a bare NOTIFY every second meanwhile.

    The append's own hint can arrive while a foreign transaction on the same
    server holds the horizon back; the subscriber then re-parks. Each nudge is
    still a notification, so whatever wakes the subscriber here is LISTEN.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not pending.done() and loop.time() < deadline:
        await asyncio.wait([pending], timeout=1.0)
        if not pending.done():
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    if not pending.done():
        pending.cancel()
        raise TimeoutError(f"no batch within {seconds} s")
    return pending.result()


async def test_append_sends_a_wake_up_notification(pool: asyncpg.Pool) -> None:
    store = EventStore(pool)
    woke = asyncio.Event()

    def hint(*_: object) -> None:
        woke.set()

    async with pool.acquire() as listener:
        await listener.add_listener(CHANNEL, hint)
        try:
            await store.append(f"{new_category()}-a", events(1), NO_STREAM)
            await asyncio.wait_for(woke.wait(), DEADLINE_S)
        finally:
            await listener.remove_listener(CHANNEL, hint)


async def test_notification_wakes_a_parked_subscriber(pool: asyncpg.Pool) -> None:
    store = ReadCountingStore(pool)
    cat = new_category()
    stop = asyncio.Event()
    # A poll interval far beyond the test's deadline: only a notification can deliver in time.
    subscription = subscribe(store, categories=[cat], poll_interval_s=3600, stop=stop)
    try:
        first = asyncio.ensure_future(anext(subscription))
        await store.wait_for_reads(1)  # caught up (nothing yet) and parked on the wake-up
        assert not first.done()
        batch = events(2)
        await store.append(f"{cat}-a", batch, NO_STREAM)
        got = await wait_nudging(first, pool, DEADLINE_S)
        assert [e.event_id for e in got] == [e.event_id for e in batch]
    finally:
        stop.set()
        await subscription.aclose()


async def test_polling_delivers_when_the_listener_is_gone(pool: asyncpg.Pool) -> None:
    store = ReadCountingStore(pool)
    cat = new_category()
    stop = asyncio.Event()
    subscription = subscribe(store, categories=[cat], poll_interval_s=0.05, stop=stop)
    try:
        first = asyncio.ensure_future(anext(subscription))
        await store.wait_for_reads(1)
        # Kill the subscriber's LISTEN connection: no notification can reach it any more.
        async with pool.acquire() as conn:
            listeners = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
            assert len(listeners) == 1
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", listeners[0]["pid"])
        batch = events(3)
        await store.append(f"{cat}-a", batch, NO_STREAM)
        done, _ = await asyncio.wait([first], timeout=DEADLINE_S)
        assert done, "polling did not deliver"
        assert [e.event_id for e in first.result()] == [e.event_id for e in batch]
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await subscription.aclose()


async def test_subscriber_pages_large_backlogs_in_cursor_order(pool: asyncpg.Pool) -> None:
    store = ReadCountingStore(pool)
    cat = new_category()
    ids = []
    for i in range(5):
        batch = events(5, str(i))
        await store.append(f"{cat}-{i}", batch, NO_STREAM)
        ids += [e.event_id for e in batch]
    stop = asyncio.Event()
    got: list[RecordedEvent] = []
    subscription = subscribe(store, categories=[cat], batch_size=4, poll_interval_s=0.02, stop=stop)
    try:
        while len(got) < len(ids):
            got += await wait_nudging(asyncio.ensure_future(anext(subscription)), pool, DEADLINE_S)
    finally:
        stop.set()
        await subscription.aclose()
    assert [e.event_id for e in got] == ids
    assert [e.cursor for e in got] == sorted(e.cursor for e in got)


class ListenRefusingConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection that cannot LISTEN, as behind a transaction-mode connection pooler."""

    async def add_listener(self, channel: str, callback: object) -> None:
        raise asyncpg.FeatureNotSupportedError("LISTEN is not supported here")


async def test_polling_delivers_when_listen_is_refused_and_leaks_nothing(
    database_url: str,
) -> None:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=3,
        init=init_connection,
        connection_class=ListenRefusingConnection,
    )
    try:
        store = ReadCountingStore(pool)
        cat = new_category()
        stop = asyncio.Event()
        subscription = subscribe(store, categories=[cat], poll_interval_s=0.05, stop=stop)
        first = asyncio.ensure_future(anext(subscription))
        await store.wait_for_reads(1)
        batch = events(2)
        await store.append(f"{cat}-a", batch, NO_STREAM)
        done, _ = await asyncio.wait([first], timeout=DEADLINE_S)
        assert done, "polling did not deliver"
        assert [e.event_id for e in first.result()] == [e.event_id for e in batch]
        stop.set()
        await subscription.aclose()
        # The refused listener's connection went back to the pool.
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await asyncio.wait_for(pool.close(), 30)
