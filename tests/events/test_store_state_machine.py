"""The PostgreSQL event store run against an in-memory model by a Hypothesis state machine.

Rules: appends with right and wrong expected versions (exact, NO_STREAM, ANY),
idempotent retries, event ids reused in another stream, two writers with open
transactions on two pools committing or rolling back in either order, two
writers racing for the same stream, archive, and full projection rebuilds.
Work Run streams only ever receive events `WorkRunState.apply` accepts, so the
WorkRun projection can fold them.

Invariants after every step: per-stream versions are contiguous in the
database; the database holds exactly the model's streams and events; the
incrementally maintained WorkRun read model equals the model's fold; a
subscriber paging read_all with its cursor has seen every committed event
exactly once, in strictly increasing cursor order.

The machine owns global state (cursors, read models, the commands table a
trigger fills), so every example runs on a fresh database copied from a
migrated template.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from private_databases import create_database, drop_database
from workrun_events import (
    artifact,
    at,
    command_started,
    copy_state,
    legal_next_events,
)

from hive.contracts.events import Event, WorkRunEvent
from hive.events import (
    ANY,
    NO_STREAM,
    START,
    Cursor,
    DuplicateEventId,
    EventStore,
    EventStoreError,
    NewEvent,
    ProjectionRunner,
    StreamArchived,
    StreamTooLong,
    VersionConflict,
    create_pool,
)
from hive.events.store import ExpectedVersion
from hive.sandbox.workruns.projection import WorkRunProjection
from hive.sandbox.workruns.state import WorkRunState, decode_state

T = TypeVar("T")
HARD_LENGTH = 14
# Long enough for a foreign transaction on the server to end; a failing example waits this long.
DEADLINE_S = 20.0


@dataclass
class ModelStream:
    """What the model knows of one stream."""

    stream_id: str
    workrun: bool
    events: list[NewEvent] = field(default_factory=list)
    archived: bool = False
    state: WorkRunState = field(default_factory=WorkRunState)
    # The last successful append, for retries: (batch, expected version, first version).
    last_append: tuple[list[NewEvent], ExpectedVersion, int] | None = None

    @property
    def version(self) -> int:
        """The stream's version."""
        return len(self.events)

    def record(self, batch: list[NewEvent], expected: ExpectedVersion) -> None:
        """Apply a committed append to the model."""
        first = self.version + 1
        if self.workrun:
            for i, e in enumerate(batch):
                self.state.apply(e.event, first + i, at(first + i))  # type: ignore[arg-type]
        self.events += batch
        self.last_append = (batch, expected, first)


Outcome = type[EventStoreError] | None


def predicted(stream: ModelStream | None, expected: ExpectedVersion, n: int) -> Outcome:
    """The store's answer to a fresh-id append (None: success), in its precedence:
    archived, then too long, then version conflict."""
    version = 0 if stream is None else stream.version
    if stream is not None and stream.archived:
        return StreamArchived
    if version + n > HARD_LENGTH:
        return StreamTooLong
    if expected == ANY:
        return None
    wanted = 0 if expected == NO_STREAM else expected
    return None if wanted == version else VersionConflict


class EventStoreMachine(RuleBasedStateMachine):
    """One example: a sequence of appends and reads against a freshly emptied database."""

    loop: asyncio.Runner
    server_url: str
    template_url: str

    def __init__(self) -> None:
        super().__init__()
        self.url = self.run(
            create_database(self.server_url, migrated=False, template=self.template_url)
        )
        self.pool_a = self.run(create_pool(self.url, max_size=3))
        self.pool_b = self.run(create_pool(self.url, max_size=3))
        self.store_a = EventStore(self.pool_a, hard_length=HARD_LENGTH)
        self.store_b = EventStore(self.pool_b, hard_length=HARD_LENGTH)
        self.runner = ProjectionRunner(self.store_a)
        self.projection = WorkRunProjection()
        self.model: dict[str, ModelStream] = {}
        self.serial = 0
        self.cursor = START
        self.delivered: list[uuid.UUID] = []

    def teardown(self) -> None:
        self.run(self.pool_a.close())
        self.run(self.pool_b.close())
        self.run(drop_database(self.server_url, self.url))

    # -- plumbing ------------------------------------------------------------------------

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the machine's event loop."""
        return self.loop.run(coro)  # type: ignore[arg-type]

    def new_stream_id(self, workrun: bool) -> str:
        """A stream id never used before in this example."""
        self.serial += 1
        return f"workrun-t{self.serial}" if workrun else f"misc-s{self.serial}"

    def live_streams(self) -> list[str]:
        """Streams that accept appends."""
        return sorted(s for s, m in self.model.items() if not m.archived)

    def draw_batch(
        self, data: st.DataObject, stream_id: str, state: WorkRunState | None
    ) -> list[NewEvent]:
        """1-3 fresh events; for a Work Run stream, each legal after the ones before it."""
        n = data.draw(st.integers(1, 3), label="batch size")
        batch: list[Event] = []
        if state is None:  # a misc stream: any events
            for _ in range(n):
                self.serial += 1
                batch.append(
                    data.draw(
                        st.sampled_from(
                            [artifact(f"a{self.serial}"), command_started(f"c{self.serial}")]
                        )
                    )
                )
        else:
            work = copy_state(state)
            task_id = stream_id.removeprefix("workrun-")
            for _ in range(n):
                event: WorkRunEvent = data.draw(
                    st.sampled_from(legal_next_events(work, task_id)), label="event"
                )
                work.apply(event, work.stream_version + 1, at(0))
                batch.append(event)
        return [NewEvent(e) for e in batch]

    def draw_stream(self, data: st.DataObject, *, live: bool = True) -> ModelStream:
        """An existing stream (only appendable ones when `live`)."""
        pool = self.live_streams() if live else sorted(self.model)
        return self.model[data.draw(st.sampled_from(pool), label="stream")]

    async def append_expecting(
        self,
        store: EventStore,
        stream_id: str,
        batch: list[NewEvent],
        expected: ExpectedVersion,
        outcome: Outcome,
        **kw: Any,
    ) -> Any:
        """Append and check the outcome the model predicted."""
        if outcome is None:
            return await store.append(stream_id, batch, expected, **kw)
        with pytest.raises(outcome) as err:
            await store.append(stream_id, batch, expected, **kw)
        if outcome is VersionConflict:
            model = self.model.get(stream_id)
            assert err.value.actual == (None if model is None else model.version)  # type: ignore[attr-defined]
        return None

    # -- rules: single writer ----------------------------------------------------------------

    @rule(data=st.data(), workrun=st.booleans(), style=st.sampled_from([NO_STREAM, 0, ANY]))
    def create_stream(self, data: st.DataObject, workrun: bool, style: ExpectedVersion) -> None:
        stream_id = self.new_stream_id(workrun)
        stream = ModelStream(stream_id, workrun)
        batch = self.draw_batch(data, stream_id, stream.state if workrun else None)
        result = self.run(self.store_a.append(stream_id, batch, style))
        assert (result.first_version, result.last_version, result.duplicate) == (
            1,
            len(batch),
            False,
        )
        stream.record(batch, style)
        self.model[stream_id] = stream

    @precondition(lambda self: self.live_streams())
    @rule(data=st.data(), use_any=st.booleans())
    def append_right_version(self, data: st.DataObject, use_any: bool) -> None:
        stream = self.draw_stream(data)
        batch = self.draw_batch(data, stream.stream_id, stream.state if stream.workrun else None)
        expected: ExpectedVersion = ANY if use_any else stream.version
        outcome = predicted(stream, expected, len(batch))
        result = self.run(
            self.append_expecting(self.store_a, stream.stream_id, batch, expected, outcome)
        )
        if outcome is None:
            assert (result.first_version, result.last_version) == (
                stream.version + 1,
                stream.version + len(batch),
            )
            stream.record(batch, expected)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), offset=st.integers(-3, 3).filter(bool), no_stream=st.booleans())
    def append_wrong_version(self, data: st.DataObject, offset: int, no_stream: bool) -> None:
        stream = self.draw_stream(data, live=False)
        expected: ExpectedVersion = NO_STREAM if no_stream else stream.version + offset
        if expected != NO_STREAM and int(expected) <= 0:
            expected = stream.version + abs(offset)
        batch = [NewEvent(artifact("never-stored"))]
        outcome = predicted(stream, expected, 1)
        assert outcome is not None
        self.run(self.append_expecting(self.store_a, stream.stream_id, batch, expected, outcome))

    @rule(version=st.integers(1, 5))
    def append_exact_to_missing_stream(self, version: int) -> None:
        stream_id = self.new_stream_id(workrun=False)
        with pytest.raises(VersionConflict) as err:
            self.run(self.store_a.append(stream_id, [NewEvent(artifact("x"))], version))
        assert err.value.actual is None

    @precondition(lambda self: any(m.last_append for m in self.model.values()))
    @rule(data=st.data())
    def retry_last_append(self, data: st.DataObject) -> None:
        candidates = sorted(s for s, m in self.model.items() if m.last_append)
        stream = self.model[data.draw(st.sampled_from(candidates), label="stream")]
        assert stream.last_append is not None
        batch, expected, first = stream.last_append
        result = self.run(self.store_a.append(stream.stream_id, batch, expected))
        assert result.duplicate is True
        assert (result.first_version, result.last_version) == (first, first + len(batch) - 1)

    @precondition(lambda self: len(self.model) >= 2)
    @rule(data=st.data())
    def reuse_ids_in_another_stream(self, data: st.DataObject) -> None:
        source = self.draw_stream(data, live=False)
        target = self.model[
            data.draw(st.sampled_from(sorted(set(self.model) - {source.stream_id})), label="target")
        ]
        stolen = data.draw(st.sampled_from(source.events), label="stolen event")
        fresh = self.draw_batch(data, target.stream_id, target.state if target.workrun else None)
        batch = [NewEvent(fresh[0].event, stolen.event_id), *fresh[1:]]
        expected: ExpectedVersion = data.draw(st.sampled_from([target.version, ANY]))
        with pytest.raises(DuplicateEventId):
            self.run(self.store_a.append(target.stream_id, batch, expected))

    @precondition(lambda self: self.live_streams())
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        stream = self.draw_stream(data)
        self.run(self.store_a.archive(stream.stream_id))
        stream.archived = True

    # -- rules: two writers ---------------------------------------------------------------

    @rule(
        data=st.data(),
        a_first=st.booleans(),
        commit_a_first=st.booleans(),
        commit_a=st.booleans(),
        commit_b=st.booleans(),
    )
    def interleaved_writers(
        self,
        data: st.DataObject,
        a_first: bool,
        commit_a_first: bool,
        commit_a: bool,
        commit_b: bool,
    ) -> None:
        """Writers A and B (two pools) with open transactions on two distinct streams."""
        plans = []
        taken: set[str] = set()
        for _ in range(2):
            live = [s for s in self.live_streams() if s not in taken]
            if live and data.draw(st.booleans(), label="existing stream"):
                stream = self.model[data.draw(st.sampled_from(live), label="stream")]
            else:
                sid = self.new_stream_id(data.draw(st.booleans(), label="workrun"))
                stream = ModelStream(sid, sid.startswith("workrun-"))
            taken.add(stream.stream_id)
            batch = self.draw_batch(
                data, stream.stream_id, stream.state if stream.workrun else None
            )
            if stream.version + len(batch) > HARD_LENGTH:
                batch = batch[:1]
                if stream.version + 1 > HARD_LENGTH:
                    return
            plans.append((stream, batch))
        self.run(self._interleave(plans, a_first, commit_a_first, (commit_a, commit_b)))

    async def _interleave(
        self,
        plans: list[tuple[ModelStream, list[NewEvent]]],
        a_first: bool,
        commit_a_first: bool,
        commits: tuple[bool, bool],
    ) -> None:
        stores = (self.store_a, self.store_b)
        conns = [await self.pool_a.acquire(), await self.pool_b.acquire()]
        txs = [c.transaction() for c in conns]
        try:
            for tx in txs:
                await tx.start()
            for w in (0, 1) if a_first else (1, 0):
                stream, batch = plans[w]
                await stores[w].append(
                    stream.stream_id, batch, stream.version or NO_STREAM, conn=conns[w]
                )
            await self._poll_subscriber()  # nothing uncommitted may show up
            for w in (0, 1) if commit_a_first else (1, 0):
                stream, batch = plans[w]
                if commits[w]:
                    await txs[w].commit()
                    stream.record(batch, stream.version or NO_STREAM)
                    self.model[stream.stream_id] = stream
                else:
                    await txs[w].rollback()
                await self._poll_subscriber()  # one committed, the other maybe still open
        finally:
            for conn, tx in zip(conns, txs, strict=True):
                if conn.is_in_transaction():
                    await tx.rollback()
            await self.pool_a.release(conns[0])
            await self.pool_b.release(conns[1])

    @precondition(lambda self: self.live_streams())
    @rule(data=st.data(), commit_a=st.booleans())
    def racing_writers_on_one_stream(self, data: st.DataObject, commit_a: bool) -> None:
        """A holds the stream's row in an open transaction; B appends at the same version
        and blocks; A commits (B must conflict) or rolls back (B must land)."""
        stream = self.draw_stream(data)
        state = stream.state if stream.workrun else None
        batch_a = self.draw_batch(data, stream.stream_id, state)
        batch_b = self.draw_batch(data, stream.stream_id, state)
        if stream.version + max(len(batch_a), len(batch_b)) > HARD_LENGTH:
            return
        b_any = not stream.workrun and data.draw(st.booleans(), label="B uses ANY")
        self.run(self._race(stream, batch_a, batch_b, commit_a, b_any))

    async def _race(
        self,
        stream: ModelStream,
        batch_a: list[NewEvent],
        batch_b: list[NewEvent],
        commit_a: bool,
        b_any: bool,
    ) -> None:
        version = stream.version
        conn = await self.pool_a.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            await self.store_a.append(stream.stream_id, batch_a, version, conn=conn)
            b = asyncio.ensure_future(
                self.store_b.append(stream.stream_id, batch_b, ANY if b_any else version)
            )
            await self._until_someone_waits_for_a_lock(b)
            if commit_a:
                await tx.commit()
                stream.record(batch_a, version)
            else:
                await tx.rollback()
        finally:
            if conn.is_in_transaction():
                await tx.rollback()
            await self.pool_a.release(conn)
        b_expected: ExpectedVersion = ANY if b_any else version
        outcome = predicted(stream, b_expected, len(batch_b))
        if outcome is None:
            result = await b
            assert result.first_version == stream.version + 1
            stream.record(batch_b, b_expected)
        else:
            with pytest.raises(outcome):
                await b

    async def _until_someone_waits_for_a_lock(self, b: asyncio.Future[Any]) -> None:
        # Only makes the race real; the outcome must not depend on it.
        deadline = time.monotonic() + 10
        while not b.done() and time.monotonic() < deadline:
            async with self.pool_a.acquire() as c:
                if await c.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ):
                    return
            await asyncio.sleep(0.005)

    # -- rules: projections ----------------------------------------------------------------

    @precondition(lambda self: any(m.workrun for m in self.model.values()))
    @rule()
    def rebuild_equals_incremental(self) -> None:
        self.run(self._catch_up())
        incremental = self.run(self._read_model())
        self.run(self.runner.rebuild(self.projection, batch_size=3))
        assert self.run(self._read_model()) == incremental

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def versions_are_contiguous(self) -> None:
        rows = self.run(
            self._fetch(
                "SELECT s.stream_id, s.version, count(e.stream_id) AS n, "
                "min(e.stream_version) AS lo, max(e.stream_version) AS hi "
                "FROM streams s LEFT JOIN events e USING (stream_id) GROUP BY s.stream_id"
            )
        )
        for r in rows:
            assert (r["n"], r["lo"], r["hi"]) == (r["version"], 1, r["version"]), dict(r)
        orphans = self.run(
            self._fetch(
                "SELECT count(*) FROM events WHERE stream_id NOT IN (SELECT stream_id FROM streams)"
            )
        )
        assert orphans[0][0] == 0

    @invariant()
    def database_equals_model(self) -> None:
        rows = self.run(
            self._fetch(
                "SELECT s.stream_id, s.archived, "
                "array_agg(e.event_id ORDER BY e.stream_version) AS ids, "
                "array_agg(e.event_type ORDER BY e.stream_version) AS types "
                "FROM streams s JOIN events e USING (stream_id) GROUP BY s.stream_id, s.archived"
            )
        )
        stored = {r["stream_id"]: (r["archived"], list(r["ids"]), list(r["types"])) for r in rows}
        expected = {
            s: (
                m.archived,
                [e.event_id for e in m.events],
                [type(e.event).__name__ for e in m.events],
            )
            for s, m in self.model.items()
        }
        assert stored == expected

    @invariant()
    def read_model_equals_model_fold(self) -> None:
        self.run(self._catch_up())
        rows = {state.task_id: state for state in self.run(self._read_model())}
        wanted = {m.state.task_id: m.state for m in self.model.values() if m.workrun}
        assert sorted(rows) == sorted(wanted)
        for task_id, state in rows.items():
            # recorded_at (the database clock) becomes updated_at; the model uses fixed instants.
            assert msgspec.structs.replace(state, updated_at=None) == msgspec.structs.replace(
                wanted[task_id], updated_at=None
            ), task_id

    @invariant()
    def subscriber_saw_every_committed_event_once_in_order(self) -> None:
        committed = {e.event_id for m in self.model.values() for e in m.events}
        deadline = time.monotonic() + DEADLINE_S
        while True:
            self.run(self._poll_subscriber())
            if set(self.delivered) >= committed or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(self.delivered) == len(set(self.delivered)), "an event was delivered twice"
        assert set(self.delivered) == committed

    # -- helpers ---------------------------------------------------------------------------

    async def _poll_subscriber(self) -> None:
        """Page read_all from the subscriber's cursor until a page comes back empty."""
        committed = {e.event_id for m in self.model.values() for e in m.events}
        while page := await self.store_b.read_all(self.cursor, limit=4):
            for rec in page:
                assert rec.cursor > self.cursor, "cursor went backwards"
                assert rec.event_id in committed, "delivered an event the model has not committed"
                self.cursor = rec.cursor
                self.delivered.append(rec.event_id)

    async def _catch_up(self) -> None:
        """catch_up until the read model reflects every committed Work Run event."""
        wanted = {m.state.task_id: m.version for m in self.model.values() if m.workrun}
        deadline = time.monotonic() + DEADLINE_S
        while True:
            await self.runner.catch_up(self.projection, batch_size=5)
            have = {s.task_id: s.stream_version for s in await self._read_model()}
            if have == wanted or time.monotonic() > deadline:
                return

    async def _read_model(self) -> list[WorkRunState]:
        rows = await self._fetch("SELECT data FROM work_runs ORDER BY task_id")
        return [decode_state(r["data"]) for r in rows]

    async def _fetch(self, sql: str) -> list[asyncpg.Record]:
        async with self.pool_a.acquire() as conn:
            return list(await conn.fetch(sql))


@pytest.fixture(scope="module")
def machine_template(server_url: str) -> Iterator[tuple[asyncio.Runner, str]]:
    """A loop of the machine's own and a migrated template database to copy per example."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as loop:
        url = loop.run(create_database(server_url, migrated=True))
        try:
            yield loop, url
        finally:
            loop.run(drop_database(server_url, url))


def test_store_against_model(server_url: str, machine_template: tuple[asyncio.Runner, str]) -> None:
    loop, template_url = machine_template
    machine = type(
        "PostgresStoreMachine",
        (EventStoreMachine,),
        {"loop": loop, "server_url": server_url, "template_url": template_url},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_cursor_type_orders_like_the_database() -> None:
    # The subscriber invariant compares Cursor objects: they must order as (tx_id, position).
    assert Cursor(5, 100) < Cursor(6, 1) < Cursor(6, 2)
