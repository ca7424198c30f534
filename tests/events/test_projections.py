"""ProjectionRunner, the WorkRun read model and snapshots, on a database of this module's own.

Projections own global state (one cursor per projection name, the whole
`work_runs` table), so these tests run against `private_store`, emptied
before each test.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import msgspec
import pytest
from global_reader import DEADLINE_S
from workrun_events import (
    applied,
    approved,
    artifact,
    attempt_finished,
    attempt_started,
    checkpoint,
    created,
    patch_proposed,
    seeded,
)

from hive.contracts.events import UnknownEventType, WorkRunEvent
from hive.events import NO_STREAM, EventStore, ProjectionRunner, RecordedEvent, create_pool
from hive.events.projections import Projection
from hive.events.snapshots import SnapshotStore
from hive.sandbox.workruns.projection import WorkRunProjection, WorkRunRepository
from hive.sandbox.workruns.state import (
    PROJECTION_NAME,
    PROJECTION_VERSION,
    WorkRunState,
    decode_state,
    encode_state,
    stream_id,
)


def lifecycle(task_id: str, checkpoints: int = 2) -> list[WorkRunEvent]:
    """A legal Work Run stream from creation to applied."""
    return [
        created(task_id),
        seeded(task_id),
        attempt_started(1),
        *(checkpoint(i, 1) for i in range(1, checkpoints + 1)),
        artifact("report.txt"),
        patch_proposed(1),
        attempt_finished(1, "succeeded"),
        approved(),
        applied(),
    ]


async def write_work_runs(store: EventStore, n: int, cut: int | None = None) -> list[str]:
    """Append `n` Work Run streams (the first `cut` events of each when given)."""
    tasks = [f"t{uuid.uuid4().hex[:10]}" for _ in range(n)]
    for task in tasks:
        await store.append(stream_id(task), lifecycle(task)[:cut], NO_STREAM)
    return tasks


async def read_model(store: EventStore) -> list[tuple[Any, ...]]:
    """Every `work_runs` row, with its state decoded."""
    async with store.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT task_id, project_id, state, stream_version, data, updated_at "
            "FROM work_runs ORDER BY task_id"
        )
    return [(*tuple(r)[:4], decode_state(r["data"]), r["updated_at"]) for r in rows]


async def event_count(store: EventStore, category: str = "workrun") -> int:
    """Events stored in a category."""
    async with store.pool.acquire() as conn:
        n = await conn.fetchval(
            "SELECT count(*) FROM events WHERE split_part(stream_id, '-', 1) = $1", category
        )
    return int(n)


async def catch_up_to(
    runner: ProjectionRunner, projection: Projection, total: int, *, batch_size: int = 1000
) -> int:
    """catch_up until `total` events were applied (another server transaction may hold the
    horizon back for a moment); return how many were applied."""
    applied_n = 0
    deadline = time.monotonic() + DEADLINE_S
    while applied_n < total and time.monotonic() < deadline:
        applied_n += await runner.catch_up(projection, batch_size=batch_size)
    return applied_n


async def cursor_row(store: EventStore, name: str) -> tuple[Any, ...] | None:
    """The projection's cursor row (position and count), None before its first run."""
    async with store.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT tx_id::text, global_position, events_processed FROM projection_cursors "
            "WHERE name = $1",
            name,
        )
    return None if row is None else tuple(row)


# -- catch_up --------------------------------------------------------------------------------


async def test_catch_up_applies_each_event_once_and_is_idempotent(
    private_store: EventStore,
) -> None:
    store = private_store
    tasks = await write_work_runs(store, 3)
    total = await event_count(store)
    runner, projection = ProjectionRunner(store), WorkRunProjection()

    assert await catch_up_to(runner, projection, total, batch_size=4) == total
    rows = await read_model(store)
    assert [r[0] for r in rows] == sorted(tasks)
    assert {r[2] for r in rows} == {"applied"}

    assert await runner.catch_up(projection) == 0
    assert await read_model(store) == rows
    (status,) = [s for s in await runner.status() if s.name == PROJECTION_NAME]
    assert status.events_processed == total
    assert status.code_version == PROJECTION_VERSION
    last = (await store.read_all(limit=10_000))[-1]
    assert status.cursor == last.cursor


async def test_incremental_rows_equal_the_live_fold(private_store: EventStore) -> None:
    store = private_store
    runner, projection = ProjectionRunner(store), WorkRunProjection()
    tasks = await write_work_runs(store, 3, cut=4)
    await catch_up_to(runner, projection, await event_count(store))
    for task in tasks:
        rest = lifecycle(task)[4:]
        await store.append(stream_id(task), rest, 4)
    await catch_up_to(runner, projection, len(tasks) * len(lifecycle("x")[4:]))

    repo = WorkRunRepository(store)
    rows = {r[0]: r[4] for r in await read_model(store)}
    for task in tasks:
        live = await repo.load(task, use_snapshot=False)
        assert live is not None
        assert rows[task] == live


class FailingWorkRunProjection(WorkRunProjection):
    """Writes its rows, then fails before the runner can save the cursor."""

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await super().apply(conn, events)
        raise RuntimeError("projection crashed mid-batch")


async def test_failure_inside_apply_keeps_rows_and_cursor(private_store: EventStore) -> None:
    store = private_store
    runner = ProjectionRunner(store)
    tasks = await write_work_runs(store, 2, cut=3)
    await catch_up_to(runner, WorkRunProjection(), await event_count(store))
    rows_before = await read_model(store)
    cursor_before = await cursor_row(store, PROJECTION_NAME)

    await store.append(stream_id(tasks[0]), lifecycle(tasks[0])[3:5], 3)
    with pytest.raises(RuntimeError, match="crashed"):
        # Retry until the new events are below the horizon and reach apply().
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            await runner.run_once(FailingWorkRunProjection())
    assert await read_model(store) == rows_before
    assert await cursor_row(store, PROJECTION_NAME) == cursor_before

    assert await catch_up_to(runner, WorkRunProjection(), 2) == 2
    rows = {r[0]: r for r in await read_model(store)}
    assert rows[tasks[0]][3] == 5


class LedgerProjection:
    """Records every applied event id; a double apply shows up as a repeated id."""

    version = 1

    def __init__(self, category: str, runner_name: str) -> None:
        self.name = f"ledger_{category}"
        self.categories: tuple[str, ...] | None = (category,)
        self.runner_name = runner_name

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await conn.executemany(
            "INSERT INTO projection_ledger (event_id, runner) VALUES ($1, $2)",
            [(e.event_id, self.runner_name) for e in events],
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute("DELETE FROM projection_ledger")

    def begin_rebuild(self) -> Any:
        raise NotImplementedError


@pytest.fixture
async def ledger_table(private_store: EventStore) -> AsyncIterator[None]:
    async with private_store.pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS projection_ledger (event_id uuid NOT NULL, runner text)"
        )
        await conn.execute("TRUNCATE projection_ledger")
    yield


async def test_two_runners_never_apply_an_event_twice(
    private_store: EventStore, private_database_url: str, ledger_table: None
) -> None:
    store = private_store
    category = "ledger" + uuid.uuid4().hex[:8]
    for i in range(30):
        await store.append(f"{category}-{i}", [artifact(f"a{j}") for j in range(7)], NO_STREAM)
    total = 30 * 7

    async def ledger_size() -> int:
        async with store.pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM projection_ledger"))

    async def drive(runner: ProjectionRunner, name: str) -> int:
        # Each runner stops once the ledger is complete, whoever applied what.
        applied_n = 0
        deadline = time.monotonic() + DEADLINE_S
        while await ledger_size() < total and time.monotonic() < deadline:
            applied_n += await runner.catch_up(LedgerProjection(category, name), batch_size=5)
        return applied_n

    other_pool = await create_pool(private_database_url, max_size=2)
    try:
        done_a, done_b = await asyncio.gather(
            drive(ProjectionRunner(store), "a"),
            drive(ProjectionRunner(EventStore(other_pool)), "b"),
        )
    finally:
        await other_pool.close()

    async with store.pool.acquire() as conn:
        ids = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM projection_ledger")]
    assert len(ids) == total
    assert len(set(ids)) == total
    assert done_a + done_b == total


# -- rebuild ----------------------------------------------------------------------------------


async def test_rebuild_equals_incremental(private_store: EventStore) -> None:
    store = private_store
    runner, projection = ProjectionRunner(store), WorkRunProjection()
    tasks = await write_work_runs(store, 4, cut=6)
    await write_work_runs(store, 3)
    await catch_up_to(runner, projection, await event_count(store), batch_size=5)
    for task in tasks[:2]:
        await store.append(stream_id(task), lifecycle(task)[6:], 6)
    total = await event_count(store)
    await catch_up_to(runner, projection, total - 4 * 6 - 3 * len(lifecycle("x")))
    incremental = await read_model(store)
    cursor_after_catch_up = await cursor_row(store, PROJECTION_NAME)

    seen: list[int] = []
    report = await runner.rebuild(projection, batch_size=7, progress=seen.append)
    assert (report.name, report.events, report.rows) == (PROJECTION_NAME, total, 7)
    assert sum(seen) == total
    assert report.events_per_s > 0
    assert await read_model(store) == incremental
    assert await cursor_row(store, PROJECTION_NAME) == cursor_after_catch_up
    assert await runner.catch_up(projection) == 0


async def test_rebuild_is_strict_about_unknown_event_types(private_store: EventStore) -> None:
    store = private_store
    runner, projection = ProjectionRunner(store), WorkRunProjection()
    await write_work_runs(store, 2)
    await catch_up_to(runner, projection, await event_count(store))
    before = await read_model(store)
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO streams (stream_id, category, version) VALUES ('workrun-bogus', 'workrun', 1)"
        )
        await conn.execute(
            "INSERT INTO events (stream_id, stream_version, event_id, event_type, payload) "
            "VALUES ('workrun-bogus', 1, $1, 'TaskTeleported', $2)",
            uuid.uuid4(),
            b'{"type": "TaskTeleported"}',
        )
    with pytest.raises(UnknownEventType):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            await runner.rebuild(projection)
    assert await read_model(store) == before


# -- snapshots ------------------------------------------------------------------------------


async def test_load_from_snapshot_equals_full_fold(private_store: EventStore) -> None:
    store = private_store
    task = "snap" + uuid.uuid4().hex[:8]
    events = lifecycle(task, checkpoints=8)
    await store.append(stream_id(task), events[:10], NO_STREAM)
    repo = WorkRunRepository(store, snapshot_every=5)
    first = await repo.load(task)
    snap = await repo.snapshots.load(stream_id(task))
    assert snap is not None and snap.stream_version == 10
    assert first is not None and decode_state(snap.state) == first

    await store.append(stream_id(task), events[10:], 10)
    with_snapshot = await repo.load(task)
    without = await repo.load(task, use_snapshot=False)
    assert with_snapshot is not None and with_snapshot.state == "applied"
    assert with_snapshot == without


async def test_load_really_starts_from_the_snapshot(private_store: EventStore) -> None:
    # Proves the snapshot path is taken, so the equality above is not vacuous.
    store = private_store
    task = "snap" + uuid.uuid4().hex[:8]
    await store.append(stream_id(task), lifecycle(task)[:4], NO_STREAM)
    repo = WorkRunRepository(store)
    state = await repo.load(task, use_snapshot=False)
    assert state is not None
    state.instructions = "marked in the snapshot only"
    await repo.snapshots.save(stream_id(task), state.stream_version, encode_state(state))
    loaded = await repo.load(task)
    assert loaded is not None and loaded.instructions == "marked in the snapshot only"


async def test_snapshot_of_another_projection_version_is_ignored(
    private_store: EventStore,
) -> None:
    store = private_store
    task = "snap" + uuid.uuid4().hex[:8]
    await store.append(stream_id(task), lifecycle(task)[:4], NO_STREAM)
    repo = WorkRunRepository(store)
    honest = await repo.load(task, use_snapshot=False)
    assert honest is not None
    poisoned = msgspec.structs.replace(honest, instructions="from old code")
    stale_code = SnapshotStore(store.pool, PROJECTION_NAME, PROJECTION_VERSION + 1)
    await stale_code.save(stream_id(task), 4, encode_state(poisoned))

    assert await repo.snapshots.load(stream_id(task)) is None
    assert await repo.load(task) == honest
    # The current code's next save replaces it even at the same stream version.
    await repo.snapshots.save(stream_id(task), 4, encode_state(honest))
    snap = await repo.snapshots.load(stream_id(task))
    assert snap is not None and decode_state(snap.state) == honest


async def test_older_snapshot_never_replaces_a_newer_one(private_store: EventStore) -> None:
    snapshots = SnapshotStore(private_store.pool, PROJECTION_NAME, PROJECTION_VERSION)
    newer = encode_state(WorkRunState(task_id="n", stream_version=10))
    await snapshots.save("workrun-n", 10, newer)
    await snapshots.save("workrun-n", 5, encode_state(WorkRunState(task_id="o", stream_version=5)))
    snap = await snapshots.load("workrun-n")
    assert snap is not None and (snap.stream_version, snap.state) == (10, newer)
    await snapshots.delete("workrun-n")
    assert await snapshots.load("workrun-n") is None
