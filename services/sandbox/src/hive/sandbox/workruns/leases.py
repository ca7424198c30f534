"""Attempt leases: which replica runs a task's current attempt, and until when.

One row per task in `work_run_leases` (heartbeats are rows, not events).
`pending` rows wait for a worker; a worker claims one with
`FOR UPDATE SKIP LOCKED`, so replicas sharing the database never claim the
same attempt and never wait on each other. The owner renews `expires_at`
while it runs; a `leased` row whose `expires_at` passed (database clock, so
replicas need not agree on time) is what any replica marks stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

WAKE_CHANNEL = "hive_work_run_attempts"
# Payload: a task id whose running attempt was asked to stop (see Worker._cancel_watch).
CANCEL_CHANNEL = "hive_work_run_cancels"

_COLUMNS = (
    "task_id, attempt_no, attempt_id, state, owner, claimed_at, heartbeat_at, expires_at, "
    "cancel_requested"
)


@dataclass(frozen=True, slots=True)
class Lease:
    """One attempt lease row."""

    task_id: str
    attempt_no: int
    attempt_id: str
    state: str
    owner: str | None
    claimed_at: datetime | None
    heartbeat_at: datetime | None
    expires_at: datetime | None
    cancel_requested: bool


def _lease(row: asyncpg.Record) -> Lease:
    return Lease(**dict(row))


class LeaseStore:
    """SQL of the lease rows."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put_pending(
        self, conn: asyncpg.Connection, task_id: str, attempt_no: int, attempt_id: str
    ) -> None:
        """Make `attempt_no` the task's runnable attempt (inside the caller's transaction)."""
        await conn.execute(
            """
            INSERT INTO work_run_leases (task_id, attempt_no, attempt_id, state)
            VALUES ($1, $2, $3, 'pending')
            ON CONFLICT (task_id) DO UPDATE SET attempt_no = EXCLUDED.attempt_no,
                attempt_id = EXCLUDED.attempt_id, state = 'pending', owner = NULL,
                claimed_at = NULL, heartbeat_at = NULL, expires_at = NULL,
                cancel_requested = false, created_at = now(), updated_at = now()
            """,
            task_id,
            attempt_no,
            attempt_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, task_id)

    async def claim(self, owner: str, ttl_s: float) -> Lease | None:
        """Take the oldest pending attempt, skipping rows another replica is claiming."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE work_run_leases SET state = 'leased', owner = $1, claimed_at = now(),
                    heartbeat_at = now(), expires_at = now() + make_interval(secs => $2),
                    updated_at = now()
                WHERE task_id = (
                    SELECT task_id FROM work_run_leases WHERE state = 'pending'
                    ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1
                )
                RETURNING {_COLUMNS}
                """,
                owner,
                ttl_s,
            )
        return None if row is None else _lease(row)

    async def heartbeat(
        self, task_id: str, *, ttl_s: float, attempt_no: int | None = None, owner: str | None = None
    ) -> Lease | None:
        """Renew a leased attempt; None when it is no longer leased (stale, released, lost)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE work_run_leases SET heartbeat_at = now(),
                    expires_at = now() + make_interval(secs => $2), updated_at = now()
                WHERE task_id = $1 AND state = 'leased'
                    AND ($3::int IS NULL OR attempt_no = $3)
                    AND ($4::text IS NULL OR owner = $4)
                RETURNING {_COLUMNS}
                """,
                task_id,
                ttl_s,
                attempt_no,
                owner,
            )
        return None if row is None else _lease(row)

    async def get(self, task_id: str) -> Lease | None:
        """The task's lease row, if it ever had an attempt."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM work_run_leases WHERE task_id = $1", task_id
            )
        return None if row is None else _lease(row)

    async def get_many(self, task_ids: list[str]) -> dict[str, Lease]:
        """The lease rows of these tasks, by task id (tasks never attempted are absent)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM work_run_leases WHERE task_id = ANY($1)", task_ids
            )
        return {r["task_id"]: _lease(r) for r in rows}

    async def lock_state(self, conn: asyncpg.Connection, task_id: str) -> str | None:
        """The row's state, locked for the caller's transaction (None: no attempt yet)."""
        state = await conn.fetchval(
            "SELECT state FROM work_run_leases WHERE task_id = $1 FOR UPDATE", task_id
        )
        return None if state is None else str(state)

    async def lock_leased(
        self, conn: asyncpg.Connection, task_id: str, attempt_no: int
    ) -> Lease | None:
        """The attempt's row if it is leased, locked for the caller's transaction."""
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM work_run_leases "
            "WHERE task_id = $1 AND attempt_no = $2 AND state = 'leased' FOR UPDATE",
            task_id,
            attempt_no,
        )
        return None if row is None else _lease(row)

    async def set_state(
        self, conn: asyncpg.Connection, task_id: str, attempt_no: int, state: str
    ) -> None:
        """Move the attempt's row to `released` or `stale` (inside the caller's transaction)."""
        await conn.execute(
            "UPDATE work_run_leases SET state = $3, updated_at = now() "
            "WHERE task_id = $1 AND attempt_no = $2",
            task_id,
            attempt_no,
            state,
        )

    async def request_cancel(self, conn: asyncpg.Connection, task_id: str) -> None:
        """Ask the owner of a running attempt to stop (a NOTIFY at commit wakes it)."""
        await conn.execute(
            "UPDATE work_run_leases SET cancel_requested = true, updated_at = now() "
            "WHERE task_id = $1",
            task_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, task_id)

    async def cancels_requested(self, owner: str) -> list[tuple[str, int]]:
        """(task_id, attempt_no) of `owner`'s leased attempts that were asked to stop."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT task_id, attempt_no FROM work_run_leases "
                "WHERE owner = $1 AND state = 'leased' AND cancel_requested",
                owner,
            )
        return [(r["task_id"], r["attempt_no"]) for r in rows]

    async def lock_expired(self, conn: asyncpg.Connection, limit: int = 50) -> list[Lease]:
        """Expired leased rows, locked for the caller's transaction (others skip them)."""
        rows = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM work_run_leases
            WHERE state = 'leased' AND expires_at < now()
            ORDER BY expires_at FOR UPDATE SKIP LOCKED LIMIT $1
            """,
            limit,
        )
        return [_lease(r) for r in rows]
