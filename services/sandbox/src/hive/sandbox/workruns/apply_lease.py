"""Who is applying a task's approved patch right now: a PostgreSQL advisory lock.

Between `TaskApproved` and `PatchApplied`/`PatchApplyFailed` the patch is being
landed; a replica that crashes in that window leaves the task `approved`. The
apply lease tells "someone alive is applying it" from "nobody is": it is a
session-level advisory lock held on one pooled connection for the duration of
the apply, so it dies with its holder (a killed process's connection closes and
the server drops the lock) with no TTL to tune and no row to sweep. A task that
is `approved` while nobody holds its lease is abandoned, and any replica may
take the lease and finish the apply (`WorkRuns.recover_approved`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

# The advisory-lock key space of apply leases: (this, hashtext(task_id)). A hash
# collision between two tasks only makes their applies take turns.
_LOCK_SPACE = 0x41504C59  # "APLY"


@asynccontextmanager
async def apply_lease(pool: asyncpg.Pool, task_id: str) -> AsyncIterator[bool]:
    """Try to take the task's apply lease; yields False (without waiting) when another holds it."""
    async with pool.acquire() as conn:
        held = bool(
            await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_SPACE, task_id
            )
        )
        try:
            yield held
        finally:
            if held:
                await _unlock(conn, task_id)


async def _unlock(conn: asyncpg.Connection, task_id: str) -> None:
    # The store's pool does not reset sessions on release (see hive.events.store), so a
    # lock that is not explicitly released would stay with the pooled connection and
    # block every other replica's recovery of this task. If the unlock itself fails
    # or is cancelled, closing the session is what releases the lock for sure.
    try:
        await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_SPACE, task_id)
    except BaseException:
        conn.terminate()
        raise


async def approved_task_ids(pool: asyncpg.Pool, limit: int) -> list[str]:
    """Tasks the `work_runs` read model shows `approved` (candidates for recovery), newest first."""
    # A literal predicate, so even the pool's generic plans use the partial index
    # work_runs_approved (migration 0006) rather than scanning every Work Run.
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT task_id FROM work_runs WHERE state = 'approved' "
            "ORDER BY updated_at DESC LIMIT $1",
            limit,
        )
    return [r["task_id"] for r in rows]
