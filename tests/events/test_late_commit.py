"""A transaction that drew a LOWER global position commits AFTER one that drew a higher one.

T1 inserts first (position p1) and stays open; T2 inserts (p2 > p1) and commits.
A reader that trusted global_position alone would deliver p2, advance past p1,
and never see T1's event. The store's readers stay below the xid8 horizon, so
they deliver nothing of T2 while T1 is open, then both, in cursor order, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
from global_reader import ReadCountingStore, read_all_until
from store_contract import events, new_category

from hive.events import NO_STREAM, START, EventStore, RecordedEvent, subscribe


async def naive_read(pool: asyncpg.Pool, category: str, after_position: int) -> list[uuid.UUID]:
    """What a `global_position > last` reader would get: ids in position order."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id FROM events WHERE global_position > $1 "
            "AND split_part(stream_id, '-', 1) = $2 ORDER BY global_position",
            after_position,
            category,
        )
    return [r["event_id"] for r in rows]


async def test_late_commit_is_neither_skipped_nor_reordered(pool: asyncpg.Pool) -> None:
    store = ReadCountingStore(pool)
    cat = new_category()
    early, late = events(1, "t1"), events(1, "t2")

    delivered: list[RecordedEvent] = []
    stop = asyncio.Event()

    async def follow() -> None:
        async for batch in subscribe(store, categories=[cat], poll_interval_s=0.02, stop=stop):
            delivered.extend(batch)

    follower = asyncio.create_task(follow())
    t1_conn = await pool.acquire()
    t1 = t1_conn.transaction()
    try:
        await t1.start()
        r1 = await store.append(f"{cat}-t1", early, NO_STREAM, conn=t1_conn)
        r2 = await store.append(f"{cat}-t2", late, NO_STREAM)  # its own transaction, committed
        assert r1.global_positions[0] < r2.global_positions[0]

        # T2 is committed: a naive reader sees it and moves past T1's position.
        naive_seen = await naive_read(pool, cat, 0)
        assert naive_seen == [late[0].event_id]
        naive_last = r2.global_positions[0]

        # The store's readers must not hand out T2's event while T1 is open.
        reads_before = store.reads
        for _ in range(3):
            assert await store.read_all(START, categories=[cat]) == []
        await store.wait_for_reads(reads_before + 6)  # the subscriber polled meanwhile too
        assert delivered == []

        await t1.commit()
    finally:
        if not t1_conn.is_closed() and t1_conn.is_in_transaction():
            await t1.rollback()
        await pool.release(t1_conn)

    try:
        got = await read_all_until(store, 2, categories=[cat])
        assert [e.event_id for e in got] == [early[0].event_id, late[0].event_id]
        assert got[0].cursor < got[1].cursor
        deadline = asyncio.get_running_loop().time() + 60
        while len(delivered) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert [e.event_id for e in delivered] == [early[0].event_id, late[0].event_id]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(follower, 10)

    # ... and the naive reader has lost T1's event for good.
    naive_seen += await naive_read(pool, cat, naive_last)
    assert early[0].event_id not in naive_seen


async def test_many_interleaved_late_commits_arrive_exactly_once(pool: asyncpg.Pool) -> None:
    # Several writers commit in the reverse order of their positions.
    store = EventStore(pool)
    cat = new_category()
    conns = [await pool.acquire() for _ in range(4)]
    txs = [c.transaction() for c in conns]
    ids: list[uuid.UUID] = []
    try:
        for i, (conn, tx) in enumerate(zip(conns, txs, strict=True)):
            await tx.start()
            batch = events(2, f"w{i}")
            await store.append(f"{cat}-{i}", batch, NO_STREAM, conn=conn)
            ids += [e.event_id for e in batch]
        partial = await store.read_all(START, categories=[cat])
        for tx in reversed(txs):
            await tx.commit()
    finally:
        for conn in conns:
            await pool.release(conn)
    assert partial == []
    got = await read_all_until(store, len(ids), categories=[cat], limit=3)
    # Transaction ids were drawn in the order the writers first wrote.
    assert [e.event_id for e in got] == ids
    assert [e.cursor for e in got] == sorted(e.cursor for e in got)
