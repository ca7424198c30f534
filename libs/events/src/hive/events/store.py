"""The PostgreSQL event store: append with expected version, stream reads, global reads.

Append is one statement per batch, so one round trip: a CTE bumps the stream's
version only when it equals the expected one (or creates the stream), and the
INSERT draws identity values only from the rows that CTE returned. A failed
version check therefore inserts nothing and draws no global positions; the
conflict is diagnosed afterwards, off the happy path.

Global reads never skip a late-committing transaction. global_position is
drawn at insert time, so a transaction that drew position 10 may commit after
one that drew 11; a reader that saw 11 and advanced past 10 would lose it.
Instead every event records the id of its transaction (tx_id, xid8) and global
readers only look below `pg_snapshot_xmin(pg_current_snapshot())`: every
transaction with a smaller id has finished, so nothing can appear below that
horizon later. Readers page with the composite cursor (tx_id, global_position).
The cost is that one long-open writer holds back every subscriber: keep write
transactions short.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final, Literal

import asyncpg
import msgspec

from hive.contracts.events import (
    EVENT_TYPES,
    Event,
    UnknownEventType,
    encode_event,
)
from hive.events.connections import CHANNEL as CHANNEL
from hive.events.connections import Notifier
from hive.events.connections import create_pool as create_pool
from hive.events.connections import init_connection as init_connection
from hive.events.errors import (
    DuplicateEventId,
    StreamArchived,
    StreamTooLong,
    VersionConflict,
)
from hive.events.records import START as START
from hive.events.records import AppendResult as AppendResult
from hive.events.records import Cursor as Cursor
from hive.events.records import NewEvent as NewEvent
from hive.events.records import RecordedEvent as RecordedEvent
from hive.events.records import category_of as category_of
from hive.events.records import row_to_event

log = logging.getLogger(__name__)

ANY: Final = "any"
NO_STREAM: Final = "no_stream"
ExpectedVersion = int | Literal["any", "no_stream"]

WARNING_STREAM_LENGTH = 10_240
HARD_STREAM_LENGTH = 51_200


_COLUMNS = (
    "stream_id, stream_version, global_position, event_id, event_type, schema_version, "
    "payload, metadata, tx_id::text AS tx_id, recorded_at"
)

_INSERT_BATCH = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata)
SELECT $1::text, s.prev + e.ord, e.event_id, e.event_type, e.schema_version, e.payload, e.metadata
FROM s, unnest($5::uuid[], $6::text[], $7::int[], $8::jsonb[], $9::jsonb[])
        WITH ORDINALITY AS e(event_id, event_type, schema_version, payload, metadata, ord)
ORDER BY e.ord
RETURNING stream_version, global_position
"""

# The common case (one checkpoint, one command record) skips array encoding and unnest.
_INSERT_ONE = """
INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, payload, metadata)
SELECT $1::text, s.prev + 1, $5::uuid, $6::text, $7::int, $8::jsonb, $9::jsonb FROM s
RETURNING stream_version, global_position
"""

# $1 stream, $2 expected, $3 batch size, $4 hard limit, $5..$9 columns, $10 category
_BUMP_EXACT = """
WITH s AS (
    UPDATE streams SET version = version + $3, updated_at = now()
    WHERE stream_id = $1 AND version = $2 AND NOT archived AND version + $3 <= $4
    RETURNING version - $3 AS prev
)"""

_BUMP_NO_STREAM = """
WITH s AS (
    INSERT INTO streams (stream_id, category, version)
    SELECT $1::text, $10::text, $3::bigint WHERE $2::bigint = 0 AND $3 <= $4
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING 0::bigint AS prev
)"""

_BUMP_ANY = """
WITH s AS (
    INSERT INTO streams AS st (stream_id, category, version)
    SELECT $1::text, $10::text, $3::bigint WHERE $2::bigint = -1 AND $3 <= $4
    ON CONFLICT (stream_id) DO UPDATE SET version = st.version + $3, updated_at = now()
        WHERE NOT st.archived AND st.version + $3 <= $4
    RETURNING st.version - $3 AS prev
)"""


_metadata_encoder = msgspec.json.Encoder()


class EventStore:
    """Append-only streams of typed events in PostgreSQL."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        warning_length: int = WARNING_STREAM_LENGTH,
        hard_length: int = HARD_STREAM_LENGTH,
        notify_interval_s: float = 0.02,
    ) -> None:
        self.pool = pool
        self.warning_length = warning_length
        self.hard_length = hard_length
        self.notifier = Notifier(pool, notify_interval_s)

    # -- writing ---------------------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent | Event],
        expected_version: ExpectedVersion,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> AppendResult:
        """Append a batch atomically if the stream is at `expected_version`.

        `expected_version` is an exact version (0 means the stream must not exist
        yet), NO_STREAM, or ANY. Retrying the same event ids at the same versions
        returns the earlier result instead of a conflict. Pass `conn` to append
        inside a caller's transaction.
        """
        batch = [e if isinstance(e, NewEvent) else NewEvent(e) for e in events]
        if not batch:
            raise ValueError("append needs at least one event")
        for e in batch:
            # Refuse what no decoder can read back: one such event breaks every rebuild.
            if EVENT_TYPES.get(type(e.event).__name__) is not type(e.event):
                raise UnknownEventType(type(e.event).__name__)
        n = len(batch)
        if expected_version == ANY:
            bump, expected = _BUMP_ANY, -1
        elif expected_version in (NO_STREAM, 0):
            bump, expected = _BUMP_NO_STREAM, 0
        elif isinstance(expected_version, int) and expected_version > 0:
            bump, expected = _BUMP_EXACT, expected_version
        else:
            raise ValueError(f"bad expected version {expected_version!r}")
        args: tuple[Any, ...]
        if n == 1:
            e = batch[0]
            sql = bump + _INSERT_ONE
            args = (
                stream_id,
                expected,
                1,
                self.hard_length,
                e.event_id,
                type(e.event).__name__,
                type(e.event).SCHEMA_VERSION,
                encode_event(e.event),
                None if e.metadata is None else _metadata_encoder.encode(e.metadata),
            )
        else:
            sql = bump + _INSERT_BATCH
            args = (
                stream_id,
                expected,
                n,
                self.hard_length,
                [e.event_id for e in batch],
                [type(e.event).__name__ for e in batch],
                [type(e.event).SCHEMA_VERSION for e in batch],
                [encode_event(e.event) for e in batch],
                [
                    None if e.metadata is None else _metadata_encoder.encode(e.metadata)
                    for e in batch
                ],
            )
        if bump is not _BUMP_EXACT:  # only stream creation needs the category
            args = (*args, category_of(stream_id))
        try:
            if conn is None:
                async with self.pool.acquire() as c:
                    rows = await c.fetch(sql, *args)
            else:
                rows = await conn.fetch(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            # Only event_id can collide (the version check guards the primary key).
            rows = []
            if conn is not None:
                raise DuplicateEventId(str(exc)) from exc
        if not rows:
            return await self._diagnose(stream_id, batch, expected_version, conn)
        self.notifier.poke()
        last = rows[-1]["stream_version"]
        if last >= self.warning_length > last - n:
            log.warning(
                "stream %s passed the warning length: %d events (hard limit %d)",
                stream_id,
                last,
                self.hard_length,
            )
        return AppendResult(
            stream_id,
            rows[0]["stream_version"],
            last,
            tuple(r["global_position"] for r in rows),
        )

    async def _diagnose(
        self,
        stream_id: str,
        batch: list[NewEvent],
        expected_version: ExpectedVersion,
        conn: asyncpg.Connection | None,
    ) -> AppendResult:
        """Explain an append that wrote nothing: idempotent retry, or which error."""

        async def run(c: asyncpg.Connection) -> AppendResult:
            stored = await c.fetch(
                "SELECT stream_id, stream_version, global_position, event_id FROM events "
                "WHERE event_id = ANY($1::uuid[]) ORDER BY stream_version",
                [e.event_id for e in batch],
            )
            if stored:
                by_id = {r["event_id"]: r for r in stored}
                rows = [by_id.get(e.event_id) for e in batch]
                first = rows[0]
                if (
                    all(r is not None and r["stream_id"] == stream_id for r in rows)
                    and first is not None
                    and [r["stream_version"] for r in rows if r is not None]
                    == list(range(first["stream_version"], first["stream_version"] + len(batch)))
                    and (
                        not isinstance(expected_version, int)
                        or first["stream_version"] == expected_version + 1
                    )
                ):
                    return AppendResult(
                        stream_id,
                        first["stream_version"],
                        first["stream_version"] + len(batch) - 1,
                        tuple(r["global_position"] for r in rows if r is not None),
                        duplicate=True,
                    )
                raise DuplicateEventId(
                    f"event ids already stored elsewhere: {sorted(str(r['event_id']) for r in stored)}"
                )
            row = await c.fetchrow(
                "SELECT version, archived FROM streams WHERE stream_id = $1", stream_id
            )
            actual = None if row is None else row["version"]
            if row is not None and row["archived"]:
                raise StreamArchived(stream_id)
            if (actual or 0) + len(batch) > self.hard_length:
                raise StreamTooLong(stream_id, (actual or 0) + len(batch), self.hard_length)
            raise VersionConflict(stream_id, expected_version, actual)

        if conn is not None:
            return await run(conn)
        async with self.pool.acquire() as c:
            return await run(c)

    async def archive(self, stream_id: str) -> None:
        """Close a stream for appends; its events stay readable."""
        async with self.pool.acquire() as c:
            await c.execute(
                "UPDATE streams SET archived = true, updated_at = now() WHERE stream_id = $1",
                stream_id,
            )

    # -- reading -----------------------------------------------------------------------

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version (0 when it does not exist)."""
        async with self.pool.acquire() as c:
            v = await c.fetchval("SELECT version FROM streams WHERE stream_id = $1", stream_id)
        return int(v or 0)

    async def read_stream(
        self,
        stream_id: str,
        *,
        after_version: int = 0,
        limit: int | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> list[RecordedEvent]:
        """Events of one stream with version > `after_version`, in order."""
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 "
            "ORDER BY stream_version LIMIT $3"
        )
        if conn is not None:
            rows = await conn.fetch(sql, stream_id, after_version, limit)
        else:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, stream_id, after_version, limit)
        return [row_to_event(r) for r in rows]

    async def read_stream_for_fold(
        self, stream_id: str, *, after_version: int = 0
    ) -> list[asyncpg.Record]:
        """Only what a fold needs, as rows `(stream_version, event_type, schema_version,
        payload, recorded_at)`: a third of the columns of read_stream, twice as fast."""
        async with self.pool.acquire() as c:
            return list(
                await c.fetch(
                    "SELECT stream_version, event_type, schema_version, payload, recorded_at "
                    "FROM events WHERE stream_id = $1 AND stream_version > $2 "
                    "ORDER BY stream_version",
                    stream_id,
                    after_version,
                )
            )

    async def read_all(
        self,
        after: Cursor = START,
        *,
        limit: int = 1000,
        categories: Sequence[str] | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> list[RecordedEvent]:
        """Committed events after `after` in global order, below the xid8 horizon."""
        filt = ""
        args: list[Any] = [str(after.tx_id), after.global_position, limit]
        if categories:
            filt = " AND split_part(stream_id, '-', 1) = ANY($4::text[])"
            args.append(list(categories))
        sql = (
            f"SELECT {_COLUMNS} FROM events "
            "WHERE (tx_id, global_position) > ($1::text::xid8, $2) "
            "AND tx_id < pg_snapshot_xmin(pg_current_snapshot())"
            f"{filt} ORDER BY tx_id, global_position LIMIT $3"
        )
        if conn is not None:
            rows = await conn.fetch(sql, *args)
        else:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, *args)
        return [row_to_event(r) for r in rows]

    async def stream_ids(self, category: str) -> list[str]:
        """Every stream of a category."""
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                "SELECT stream_id FROM streams WHERE category = $1 ORDER BY created_at", category
            )
        return [r["stream_id"] for r in rows]
