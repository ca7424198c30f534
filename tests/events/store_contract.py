"""The event store contract: behaviour every EventStore backend must show.

Modelled on pyeventsourcing's recorder test cases: the tests live on a base
class and talk to the store only through its public API plus three hooks a
backend implements (`make_store`, `caller_transaction`, `write_raw`). A backend
subclasses `EventStoreContract` in a `test_*.py` module; see
test_store_postgres.py. Every test uses streams of a category of its own, so
tests can share one database with anything else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import msgspec
import pytest
from global_reader import read_all_until
from workrun_events import (
    approved,
    artifact,
    at,
    command_finished,
    command_started,
    created,
    seeded,
)

from hive.contracts.events import (
    UPCASTERS,
    Event,
    TaskApproved,
    UnknownEventType,
    decode_event,
    register_upcaster,
)
from hive.events import (
    ANY,
    NO_STREAM,
    DuplicateEventId,
    EventStore,
    NewEvent,
    StreamArchived,
    StreamTooLong,
    VersionConflict,
)

StoreFactory = Callable[..., EventStore]


def new_category() -> str:
    """A category no other test uses (the category is the stream id up to its first '-')."""
    return "c" + uuid.uuid4().hex[:12]


def events(n: int, tag: str = "e") -> list[NewEvent]:
    """`n` distinct events with fresh ids."""
    return [NewEvent(artifact(f"{tag}-{i}.txt")) for i in range(n)]


class NotAWorkRunEvent(Event, kw_only=True, frozen=True):
    """An Event subclass outside the tagged union: no decoder can read it back."""

    note: str


class EventStoreContract:
    """Tests any backend must pass. Subclasses provide the three hooks below."""

    backend: ClassVar[str] = "abstract"

    # -- hooks a backend implements ------------------------------------------------------

    @pytest.fixture
    def make_store(self) -> StoreFactory:
        """Factory: `make_store(warning_length=..., hard_length=...)` -> EventStore."""
        raise NotImplementedError

    def caller_transaction(self, store: EventStore) -> AbstractAsyncContextManager[Any]:
        """A connection inside an open transaction the caller owns, for `append(conn=...)`.

        Leaving the block normally commits; raising `Rollback` inside rolls back.
        """
        raise NotImplementedError

    async def write_raw(
        self,
        store: EventStore,
        stream_id: str,
        event_type: str,
        schema_version: int,
        payload: bytes,
    ) -> None:
        """Store one event as version 1 of a new stream exactly as given (as older code
        or another writer would have stored it), bypassing `append`'s encoding."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> EventStore:
        """A store with the default stream length limits."""
        return make_store()

    @pytest.fixture
    def stream(self) -> str:
        """A fresh stream id in a fresh category."""
        return f"{new_category()}-s"

    # -- expected versions ---------------------------------------------------------------

    async def test_no_stream_creates_the_stream(self, store: EventStore, stream: str) -> None:
        result = await store.append(stream, events(2), NO_STREAM)
        assert (result.first_version, result.last_version, result.duplicate) == (1, 2, False)
        assert len(result.global_positions) == 2
        assert result.global_positions[0] < result.global_positions[1]
        assert await store.stream_version(stream) == 2

    async def test_expected_zero_means_no_stream(self, store: EventStore, stream: str) -> None:
        await store.append(stream, events(1), 0)
        with pytest.raises(VersionConflict) as err:
            await store.append(stream, events(1), 0)
        assert err.value.actual == 1

    async def test_exact_version_appends_after_it(self, store: EventStore, stream: str) -> None:
        await store.append(stream, events(2), NO_STREAM)
        result = await store.append(stream, events(3), 2)
        assert (result.first_version, result.last_version) == (3, 5)
        assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2, 3, 4, 5]

    @pytest.mark.parametrize("wrong", [1, 3, 7])
    async def test_wrong_exact_version_conflicts_with_actual(
        self, store: EventStore, stream: str, wrong: int
    ) -> None:
        await store.append(stream, events(2), NO_STREAM)
        with pytest.raises(VersionConflict) as err:
            await store.append(stream, events(1), wrong)
        assert (err.value.stream_id, err.value.expected, err.value.actual) == (stream, wrong, 2)
        assert await store.stream_version(stream) == 2

    async def test_no_stream_on_existing_stream_conflicts(
        self, store: EventStore, stream: str
    ) -> None:
        await store.append(stream, events(3), NO_STREAM)
        with pytest.raises(VersionConflict) as err:
            await store.append(stream, events(1), NO_STREAM)
        assert err.value.actual == 3
        assert len(await store.read_stream(stream)) == 3

    async def test_exact_version_on_missing_stream_conflicts(
        self, store: EventStore, stream: str
    ) -> None:
        with pytest.raises(VersionConflict) as err:
            await store.append(stream, events(1), 4)
        assert err.value.actual is None
        assert await store.stream_version(stream) == 0

    async def test_any_creates_then_appends(self, store: EventStore, stream: str) -> None:
        first = await store.append(stream, events(2), ANY)
        second = await store.append(stream, events(1), ANY)
        assert (first.first_version, first.last_version) == (1, 2)
        assert (second.first_version, second.last_version) == (3, 3)

    @pytest.mark.parametrize("bad", [-1, -5, "latest", None])
    async def test_bad_expected_version_is_refused(
        self, store: EventStore, stream: str, bad: Any
    ) -> None:
        with pytest.raises(ValueError, match="expected version"):
            await store.append(stream, events(1), bad)

    async def test_empty_batch_is_refused(self, store: EventStore, stream: str) -> None:
        with pytest.raises(ValueError):
            await store.append(stream, [], NO_STREAM)

    # -- idempotent retries ----------------------------------------------------------------

    @pytest.mark.parametrize("expected", [NO_STREAM, 0, ANY])
    async def test_retry_of_first_append_returns_earlier_result(
        self, store: EventStore, stream: str, expected: Any
    ) -> None:
        batch = events(3)
        original = await store.append(stream, batch, expected)
        retry = await store.append(stream, batch, expected)
        assert retry.duplicate is True
        assert (retry.first_version, retry.last_version, retry.global_positions) == (
            original.first_version,
            original.last_version,
            original.global_positions,
        )
        assert len(await store.read_stream(stream)) == 3

    @pytest.mark.parametrize("exact", [True, False])
    async def test_retry_after_stream_moved_on_returns_earlier_result(
        self, store: EventStore, stream: str, exact: bool
    ) -> None:
        await store.append(stream, events(2), NO_STREAM)
        batch = events(2, "retried")
        original = await store.append(stream, batch, 2 if exact else ANY)
        await store.append(stream, events(4), 4)
        retry = await store.append(stream, batch, 2 if exact else ANY)
        assert retry.duplicate is True
        assert (retry.first_version, retry.last_version) == (3, 4)
        assert retry.global_positions == original.global_positions
        assert await store.stream_version(stream) == 8

    async def test_same_ids_in_another_stream_are_duplicate_ids(
        self, store: EventStore, stream: str
    ) -> None:
        batch = events(2)
        await store.append(stream, batch, NO_STREAM)
        other = stream + "-other"
        with pytest.raises(DuplicateEventId):
            await store.append(other, batch, NO_STREAM)
        assert await store.stream_version(other) == 0

    async def test_same_ids_at_other_versions_are_duplicate_ids(
        self, store: EventStore, stream: str
    ) -> None:
        batch = events(2)
        await store.append(stream, batch, NO_STREAM)
        with pytest.raises(DuplicateEventId):
            await store.append(stream, batch, 2)
        assert await store.stream_version(stream) == 2

    async def test_batch_with_one_stored_id_is_duplicate_and_writes_nothing(
        self, store: EventStore, stream: str
    ) -> None:
        batch = events(2)
        await store.append(stream, batch, NO_STREAM)
        mixed = [batch[1], *events(1, "fresh")]
        for expected in (2, ANY):
            with pytest.raises(DuplicateEventId):
                await store.append(stream, mixed, expected)
        assert await store.stream_version(stream) == 2

    # -- archive and length limits ----------------------------------------------------------

    @pytest.mark.parametrize("expected", [2, ANY, NO_STREAM])
    async def test_archived_stream_refuses_appends_and_stays_readable(
        self, store: EventStore, stream: str, expected: Any
    ) -> None:
        batch = events(2)
        await store.append(stream, batch, NO_STREAM)
        await store.archive(stream)
        with pytest.raises(StreamArchived) as err:
            await store.append(stream, events(1), expected)
        assert err.value.stream_id == stream
        assert [e.event_id for e in await store.read_stream(stream)] == [e.event_id for e in batch]

    @pytest.mark.parametrize("expected", [2, ANY])
    async def test_hard_length_refuses_and_writes_nothing(
        self, make_store: StoreFactory, stream: str, expected: Any
    ) -> None:
        store = make_store(hard_length=3)
        await store.append(stream, events(2), NO_STREAM)
        with pytest.raises(StreamTooLong) as err:
            await store.append(stream, events(2), expected)
        assert (err.value.length, err.value.hard_limit) == (4, 3)
        assert len(await store.read_stream(stream)) == 2
        assert await store.stream_version(stream) == 2
        # Exactly up to the limit is still fine.
        assert (await store.append(stream, events(1), 2)).last_version == 3

    @pytest.mark.parametrize("expected", [NO_STREAM, ANY])
    async def test_hard_length_refuses_a_new_stream_too_long(
        self, make_store: StoreFactory, stream: str, expected: Any
    ) -> None:
        store = make_store(hard_length=3)
        with pytest.raises(StreamTooLong):
            await store.append(stream, events(4), expected)
        assert await store.stream_version(stream) == 0
        assert await store.read_stream(stream) == []

    async def test_warning_length_logs_once_when_crossed(
        self, make_store: StoreFactory, stream: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        store = make_store(warning_length=3, hard_length=10)
        caplog.set_level(logging.WARNING, logger="hive.events")
        await store.append(stream, events(2), NO_STREAM)
        assert not caplog.records
        await store.append(stream, events(2), 2)
        warnings = [r for r in caplog.records if stream in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        await store.append(stream, events(1), 4)
        assert len([r for r in caplog.records if stream in r.getMessage()]) == 1

    # -- reading ---------------------------------------------------------------------------

    async def test_read_stream_pages_by_version(self, store: EventStore, stream: str) -> None:
        batch = events(10)
        await store.append(stream, batch, NO_STREAM)
        pages = []
        after = 0
        while page := await store.read_stream(stream, after_version=after, limit=4):
            pages.append([e.stream_version for e in page])
            after = page[-1].stream_version
        assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
        everything = await store.read_stream(stream)
        assert [e.event_id for e in everything] == [e.event_id for e in batch]
        assert [e.decode() for e in everything] == [e.event for e in batch]

    async def test_read_stream_of_missing_stream_is_empty(
        self, store: EventStore, stream: str
    ) -> None:
        assert await store.read_stream(stream) == []
        assert await store.stream_version(stream) == 0

    async def test_recorded_event_carries_type_schema_and_metadata(
        self, store: EventStore, stream: str
    ) -> None:
        event = NewEvent(approved(), metadata={"causation_id": "c-1", "actor": "admin"})
        await store.append(stream, [event], NO_STREAM)
        (rec,) = await store.read_stream(stream)
        assert (rec.stream_id, rec.event_id, rec.event_type, rec.schema_version) == (
            stream,
            event.event_id,
            "TaskApproved",
            TaskApproved.SCHEMA_VERSION,
        )
        assert rec.metadata is not None
        assert msgspec.json.decode(rec.metadata) == {"causation_id": "c-1", "actor": "admin"}
        assert rec.cursor.global_position == rec.global_position

    async def test_read_all_orders_by_cursor_and_filters_by_category(
        self, store: EventStore
    ) -> None:
        cat, other = new_category(), new_category()
        written = []
        for i, n in enumerate([1, 3, 2]):
            batch = events(n, f"s{i}")
            await store.append(f"{cat}-{i}", batch, NO_STREAM)
            written += [e.event_id for e in batch]
        await store.append(f"{other}-x", events(2), NO_STREAM)

        got = await read_all_until(store, len(written), categories=[cat])
        assert [e.event_id for e in got] == written
        cursors = [e.cursor for e in got]
        assert cursors == sorted(cursors)
        assert len(set(cursors)) == len(cursors)
        assert {e.stream_id.split("-", 1)[0] for e in got} == {cat}

        both = await read_all_until(store, len(written) + 2, categories=[cat, other])
        assert len(both) == len(written) + 2

    async def test_read_all_pages_with_the_cursor(self, store: EventStore) -> None:
        cat = new_category()
        for i in range(4):
            await store.append(f"{cat}-{i}", events(3, str(i)), NO_STREAM)
        whole = await read_all_until(store, 12, categories=[cat])
        paged = await read_all_until(store, 12, categories=[cat], limit=5)
        assert [e.event_id for e in paged] == [e.event_id for e in whole]
        resumed = await store.read_all(whole[6].cursor, categories=[cat])
        assert [e.event_id for e in resumed] == [e.event_id for e in whole[7:]]

    # -- caller transactions ---------------------------------------------------------------

    async def test_append_in_caller_transaction_commits_with_it(self, store: EventStore) -> None:
        cat = new_category()
        async with self.caller_transaction(store) as conn:
            await store.append(f"{cat}-a", events(2), NO_STREAM, conn=conn)
            await store.append(f"{cat}-b", events(1), NO_STREAM, conn=conn)
            inside = await store.read_stream(f"{cat}-a", conn=conn)
            assert len(inside) == 2
        assert await store.stream_version(f"{cat}-a") == 2
        assert await store.stream_version(f"{cat}-b") == 1
        together = await read_all_until(store, 3, categories=[cat])
        assert len({e.tx_id for e in together}) == 1

    async def test_append_in_caller_transaction_rolls_back_with_it(self, store: EventStore) -> None:
        cat = new_category()
        with pytest.raises(Rollback):
            async with self.caller_transaction(store) as conn:
                await store.append(f"{cat}-a", events(2), NO_STREAM, conn=conn)
                raise Rollback
        assert await store.stream_version(f"{cat}-a") == 0
        assert await store.read_stream(f"{cat}-a") == []

    async def test_conflict_in_caller_transaction_leaves_it_usable(self, store: EventStore) -> None:
        cat = new_category()
        await store.append(f"{cat}-a", events(1), NO_STREAM)
        async with self.caller_transaction(store) as conn:
            with pytest.raises(VersionConflict):
                await store.append(f"{cat}-a", events(1), 5, conn=conn)
            with pytest.raises(VersionConflict):
                await store.append(f"{cat}-a", events(1), NO_STREAM, conn=conn)
            await store.append(f"{cat}-a", events(1), 1, conn=conn)
        assert await store.stream_version(f"{cat}-a") == 2

    async def test_retry_in_caller_transaction_returns_earlier_result(
        self, store: EventStore
    ) -> None:
        cat = new_category()
        batch = events(2)
        original = await store.append(f"{cat}-a", batch, NO_STREAM)
        async with self.caller_transaction(store) as conn:
            retry = await store.append(f"{cat}-a", batch, NO_STREAM, conn=conn)
        assert retry.duplicate and retry.global_positions == original.global_positions

    # -- schema versions and unknown types -------------------------------------------------

    @pytest.fixture
    def old_task_approved(self) -> Iterator[None]:
        """A test-only schema v0 of TaskApproved (fields `approver`, `when`), upcast to v1."""

        @register_upcaster("TaskApproved", 0)
        def v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
            return {"approved_by": data["approver"], "approved_at": data["when"]}

        yield
        UPCASTERS.pop(("TaskApproved", 0))

    async def test_old_schema_is_upcast_on_read_and_stored_bytes_kept(
        self, store: EventStore, stream: str, old_task_approved: None
    ) -> None:
        old = msgspec.json.encode({"type": "TaskApproved", "approver": "ops", "when": at(5)})
        await self.write_raw(store, stream, "TaskApproved", 0, old)
        (rec,) = await store.read_stream(stream)
        assert rec.schema_version == 0
        assert rec.decode() == TaskApproved(approved_by="ops", approved_at=at(5))
        assert msgspec.json.decode(rec.payload)["approver"] == "ops"

    def test_decode_event_runs_the_upcaster_chain(self, old_task_approved: None) -> None:
        old = msgspec.json.encode({"approver": "ops", "when": at(5)})
        assert decode_event("TaskApproved", 0, old) == TaskApproved(
            approved_by="ops", approved_at=at(5)
        )
        current = msgspec.json.encode(TaskApproved(approved_by="x", approved_at=at(1)))
        assert decode_event("TaskApproved", 1, current).approved_by == "x"  # type: ignore[union-attr]

    def test_old_schema_without_upcaster_is_refused(self) -> None:
        with pytest.raises(UnknownEventType, match="no upcaster"):
            decode_event("TaskRejected", 0, b"{}")

    async def test_unknown_stored_event_type_is_refused_on_decode(
        self, store: EventStore, stream: str
    ) -> None:
        await self.write_raw(store, stream, "TaskTeleported", 1, b'{"type": "TaskTeleported"}')
        (rec,) = await store.read_stream(stream)
        with pytest.raises(UnknownEventType):
            rec.decode()

    async def test_event_outside_the_union_is_refused_on_append(
        self, store: EventStore, stream: str
    ) -> None:
        with pytest.raises(UnknownEventType):
            await store.append(stream, [NotAWorkRunEvent(note="x")], NO_STREAM)
        assert await store.stream_version(stream) == 0

    async def test_events_round_trip(self, store: EventStore, stream: str) -> None:
        # A command is finished too: the database projects command events into the
        # shared `commands` table, and a phantom running command would show in listings.
        command = f"cmd-{uuid.uuid4()}"
        batch = [
            created("t"),
            seeded("t"),
            command_started(command),
            command_finished(command),
            approved(),
        ]
        await store.append(stream, batch, NO_STREAM)
        assert [e.decode() for e in await store.read_stream(stream)] == batch


class Rollback(Exception):
    """Raised inside `caller_transaction` to roll it back."""
