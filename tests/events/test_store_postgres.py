"""The PostgreSQL EventStore against the store contract, plus what only Postgres promises."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from store_contract import EventStoreContract, StoreFactory, events, new_category

from hive.events import ANY, NO_STREAM, DuplicateEventId, EventStore, VersionConflict
from hive.events.store import category_of


class TestPostgresEventStore(EventStoreContract):
    """hive.events.EventStore on the session's PostgreSQL database."""

    backend = "postgres"

    @pytest.fixture
    def make_store(self, pool: asyncpg.Pool) -> StoreFactory:
        def make(**limits: Any) -> EventStore:
            return EventStore(pool, **limits)

        return make

    @asynccontextmanager
    async def caller_transaction(self, store: EventStore) -> AsyncIterator[asyncpg.Connection]:
        async with store.pool.acquire() as conn, conn.transaction():
            yield conn

    async def write_raw(
        self,
        store: EventStore,
        stream_id: str,
        event_type: str,
        schema_version: int,
        payload: bytes,
    ) -> None:
        async with store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO streams (stream_id, category, version) VALUES ($1, $2, 1)",
                stream_id,
                category_of(stream_id),
            )
            await conn.execute(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type, "
                "schema_version, payload) VALUES ($1, 1, $2, $3, $4, $5)",
                stream_id,
                uuid.uuid4(),
                event_type,
                schema_version,
                payload,
            )

    # -- PostgreSQL specifics ------------------------------------------------------------

    async def test_failed_version_check_draws_no_global_position(self, store: EventStore) -> None:
        # The session database sees one writer at a time (this process), so the
        # identity sequence moves only for our appends.
        stream = f"{new_category()}-s"
        first = await store.append(stream, events(1), NO_STREAM)
        for _ in range(3):
            with pytest.raises(VersionConflict):
                await store.append(stream, events(5), 7)
        second = await store.append(stream, events(1), 1)
        assert second.global_positions[0] == first.global_positions[0] + 1

    async def test_one_batch_is_one_transaction(self, store: EventStore) -> None:
        stream = f"{new_category()}-s"
        await store.append(stream, events(4), NO_STREAM)
        recorded = await store.read_stream(stream)
        assert len({e.tx_id for e in recorded}) == 1
        positions = [e.global_position for e in recorded]
        assert positions == sorted(positions)

    async def test_stream_row_tracks_category_and_version(
        self, store: EventStore, pool: asyncpg.Pool
    ) -> None:
        cat = new_category()
        await store.append(f"{cat}-one-two", events(3), NO_STREAM)
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT category, version, archived FROM streams WHERE stream_id = $1",
                f"{cat}-one-two",
            )
        assert dict(row) == {"category": cat, "version": 3, "archived": False}
        assert await store.stream_ids(cat) == [f"{cat}-one-two"]

    async def test_any_retry_inside_caller_transaction_is_refused_and_aborts_it(
        self, store: EventStore
    ) -> None:
        # Documented limitation: ANY passes the version check, the insert hits the
        # stored ids, and PostgreSQL aborts the caller's transaction before the store
        # could tell a retry from a real duplicate.
        stream = f"{new_category()}-s"
        batch = events(2)
        await store.append(stream, batch, ANY)
        async with store.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            try:
                with pytest.raises(DuplicateEventId):
                    await store.append(stream, batch, ANY, conn=conn)
                with pytest.raises(asyncpg.InFailedSQLTransactionError):
                    await conn.fetchval("SELECT 1")
            finally:
                await tx.rollback()
        assert await store.stream_version(stream) == 2
