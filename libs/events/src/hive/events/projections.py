"""Projections: read models kept in step with the global order, and full rebuilds.

A projection's read-model rows and its cursor are written in one transaction,
so a crash never leaves the cursor ahead of (or behind) the rows. The cursor
row is locked FOR UPDATE for the duration, so two runners of the same
projection (say, two sandbox replicas) serialize instead of double-applying.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from hive.events.records import START, Cursor, RecordedEvent
from hive.events.store import EventStore


class RebuildFold(Protocol):
    """In-memory state of a rebuild: folds batches, then writes every row once."""

    def fold(self, rows: Sequence[asyncpg.Record]) -> None:
        """Fold rows `(stream_id, stream_version, event_type, schema_version, payload,
        recorded_at)`, ordered by stream then version (not by global order)."""

    async def write(self, conn: asyncpg.Connection) -> int:
        """Write the folded read model; return the row count."""


class Projection(Protocol):
    """A named read model fed from the global order."""

    name: str
    version: int
    categories: tuple[str, ...] | None

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply a batch to the read model inside the caller's transaction."""

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Empty the read model (before a rebuild)."""

    def begin_rebuild(self) -> RebuildFold:
        """A fresh fold for a full rebuild."""


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """Where a projection stands."""

    name: str
    cursor: Cursor
    events_processed: int
    code_version: int
    updated_at: object


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild did and how fast."""

    name: str
    events: int
    rows: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        """Throughput of the whole rebuild, writing included."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


Progress = Callable[[int], None]


class ProjectionRunner:
    """Runs projections against an EventStore."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def _lock_cursor(self, conn: asyncpg.Connection, name: str) -> Cursor:
        await conn.execute(
            "INSERT INTO projection_cursors (name) VALUES ($1) ON CONFLICT DO NOTHING", name
        )
        row = await conn.fetchrow(
            "SELECT tx_id::text AS tx_id, global_position FROM projection_cursors "
            "WHERE name = $1 FOR UPDATE",
            name,
        )
        return Cursor(int(row["tx_id"]), row["global_position"])

    async def _save_cursor(
        self, conn: asyncpg.Connection, name: str, cursor: Cursor, processed: int, version: int
    ) -> None:
        await conn.execute(
            "UPDATE projection_cursors SET tx_id = $2::text::xid8, global_position = $3, "
            "events_processed = events_processed + $4, code_version = $5, updated_at = now() "
            "WHERE name = $1",
            name,
            str(cursor.tx_id),
            cursor.global_position,
            processed,
            version,
        )

    async def run_once(self, projection: Projection, *, batch_size: int = 1000) -> int:
        """Apply the next batch; return how many events it held (0 when caught up)."""
        async with self.store.pool.acquire() as conn, conn.transaction():
            cursor = await self._lock_cursor(conn, projection.name)
            events = await self.store.read_all(
                cursor, limit=batch_size, categories=projection.categories, conn=conn
            )
            if not events:
                return 0
            await projection.apply(conn, events)
            await self._save_cursor(
                conn, projection.name, events[-1].cursor, len(events), projection.version
            )
            return len(events)

    async def catch_up(self, projection: Projection, *, batch_size: int = 1000) -> int:
        """Apply batches until nothing is left below the horizon."""
        total = 0
        while n := await self.run_once(projection, batch_size=batch_size):
            total += n
        return total

    async def rebuild(
        self,
        projection: Projection,
        *,
        batch_size: int = 20_000,
        progress: Progress | None = None,
    ) -> RebuildReport:
        """Replay every event into an emptied read model.

        Two transactions. The first is REPEATABLE READ and READ ONLY, so it never
        gets a transaction id and never holds back the xid8 horizon of other
        readers (on the whole server) however long it runs: it reads only below the
        horizon taken at its start, a set of events that is fixed and complete, so
        it scans in primary-key order (stream, version) with a server-side cursor
        instead of paging the global order, and folds in memory. The second, short
        transaction replaces the read model and sets the cursor to the largest
        (tx_id, global_position) of that set, in one commit. A `catch_up` that ran
        in between is simply overwritten: its events lie above the new cursor and
        are applied again by the next `catch_up`.
        """
        started = time.perf_counter()
        events_seen = 0
        categories = list(projection.categories) if projection.categories else None
        fold = projection.begin_rebuild()
        async with self.store.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                horizon = await conn.fetchval(
                    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text"
                )
                scan = conn.cursor(
                    "SELECT stream_id, stream_version, event_type, schema_version, payload, "
                    "recorded_at FROM events WHERE tx_id < $1::text::xid8 "
                    "AND ($2::text[] IS NULL OR split_part(stream_id, '-', 1) = ANY($2)) "
                    "ORDER BY stream_id, stream_version",
                    horizon,
                    categories,
                    prefetch=batch_size,
                )
                batch: list[asyncpg.Record] = []
                async for row in scan:
                    batch.append(row)
                    if len(batch) == batch_size:
                        fold.fold(batch)
                        events_seen += len(batch)
                        if progress is not None:
                            progress(len(batch))
                        batch = []
                if batch:
                    fold.fold(batch)
                    events_seen += len(batch)
                    if progress is not None:
                        progress(len(batch))
                last = await conn.fetchrow(
                    "SELECT tx_id::text AS tx_id, global_position FROM events "
                    "WHERE tx_id < $1::text::xid8 "
                    "AND ($2::text[] IS NULL OR split_part(stream_id, '-', 1) = ANY($2)) "
                    "ORDER BY tx_id DESC, global_position DESC LIMIT 1",
                    horizon,
                    categories,
                )
            cursor = START if last is None else Cursor(int(last["tx_id"]), last["global_position"])
            async with conn.transaction():
                await self._lock_cursor(conn, projection.name)
                await projection.reset(conn)
                rows = await fold.write(conn)
                await conn.execute(
                    "UPDATE projection_cursors SET tx_id = $2::text::xid8, global_position = $3, "
                    "events_processed = $4, code_version = $5, updated_at = now() WHERE name = $1",
                    projection.name,
                    str(cursor.tx_id),
                    cursor.global_position,
                    events_seen,
                    projection.version,
                )
        return RebuildReport(projection.name, events_seen, rows, time.perf_counter() - started)

    async def status(self) -> list[ProjectionStatus]:
        """Every projection's cursor."""
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT name, tx_id::text AS tx_id, global_position, events_processed, "
                "code_version, updated_at FROM projection_cursors ORDER BY name"
            )
        return [
            ProjectionStatus(
                r["name"],
                Cursor(int(r["tx_id"]), r["global_position"]),
                r["events_processed"],
                r["code_version"],
                r["updated_at"],
            )
            for r in rows
        ]
