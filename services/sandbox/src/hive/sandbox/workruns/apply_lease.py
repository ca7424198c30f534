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
                # Returning the connection to the pool also drops every advisory lock
                # (asyncpg resets sessions), so an error here cannot leak the lease.
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", _LOCK_SPACE, task_id
                )
