"""Snapshots: a disposable cache of fold state, keyed by projection code version.

A snapshot whose `projection_version` differs from the code's is ignored (and
overwritten on the next save), so changing a fold never needs a data migration.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Fold state of a stream as of `stream_version`."""

    stream_id: str
    stream_version: int
    state: bytes


class SnapshotStore:
    """Load and save snapshots in the `snapshots` table."""

    def __init__(self, pool: asyncpg.Pool, projection: str, projection_version: int) -> None:
        self.pool = pool
        self.projection = projection
        self.projection_version = projection_version

    async def load(self, stream_id: str) -> Snapshot | None:
        """The snapshot for this code version, if any."""
        async with self.pool.acquire() as c:
            row = await c.fetchrow(
                "SELECT stream_version, state FROM snapshots "
                "WHERE stream_id = $1 AND projection = $2 AND projection_version = $3",
                stream_id,
                self.projection,
                self.projection_version,
            )
        return None if row is None else Snapshot(stream_id, row["stream_version"], row["state"])

    async def save(self, stream_id: str, stream_version: int, state: bytes) -> None:
        """Store (or replace) the snapshot; an older one never replaces a newer one."""
        async with self.pool.acquire() as c:
            await c.execute(
                """
                INSERT INTO snapshots (stream_id, projection, projection_version, stream_version, state)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (stream_id, projection) DO UPDATE
                    SET projection_version = EXCLUDED.projection_version,
                        stream_version = EXCLUDED.stream_version,
                        state = EXCLUDED.state, created_at = now()
                    WHERE snapshots.projection_version <> EXCLUDED.projection_version
                       OR snapshots.stream_version < EXCLUDED.stream_version
                """,
                stream_id,
                self.projection,
                self.projection_version,
                stream_version,
                state,
            )

    async def delete(self, stream_id: str) -> None:
        """Drop the snapshot of a stream."""
        async with self.pool.acquire() as c:
            await c.execute(
                "DELETE FROM snapshots WHERE stream_id = $1 AND projection = $2",
                stream_id,
                self.projection,
            )
