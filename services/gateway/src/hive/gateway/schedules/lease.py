"""The leader lease: a row with a holder, an epoch and an expiry — not a session lock.

A session advisory lock breaks behind a transaction-mode connection pooler
(the lock stays with a server connection the next transaction may not get).
A lease row works over any pooler: the holder renews it before it expires; a
candidate takes it only once it has expired, and every takeover bumps the
epoch. Work done as leader is written in a transaction that first reads the
lease row `FOR SHARE` and checks holder and epoch, so a deposed leader (a
stalled process that lost the lease) cannot write: its epoch is no longer the
row's, and a takeover waits for any in-flight transaction of the old leader.
"""

from __future__ import annotations

import asyncpg

_ACQUIRE = """
INSERT INTO leader_leases AS l (name, holder, epoch, expires_at)
VALUES ($1, $2, 1, now() + make_interval(secs => $3))
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                 THEN l.epoch ELSE l.epoch + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
RETURNING epoch
"""


class LeaderLease:
    """Acquire, renew and check one named lease for one holder."""

    def __init__(self, pool: asyncpg.Pool, name: str, holder: str, ttl_s: float) -> None:
        self.pool = pool
        self.name = name
        self.holder = holder
        self.ttl_s = ttl_s
        self.epoch: int | None = None

    async def acquire_or_renew(self) -> int | None:
        """The epoch while this holder leads, None while another does."""
        async with self.pool.acquire() as conn:
            epoch = await conn.fetchval(_ACQUIRE, self.name, self.holder, float(self.ttl_s))
        self.epoch = None if epoch is None else int(epoch)
        return self.epoch

    async def still_leader(self, conn: asyncpg.Connection, epoch: int) -> bool:
        """Inside the caller's transaction: holder and epoch unchanged and unexpired (the
        row stays share-locked until that transaction ends, so no takeover interleaves)."""
        row = await conn.fetchval(
            "SELECT 1 FROM leader_leases WHERE name = $1 AND holder = $2 AND epoch = $3 "
            "AND expires_at > now() FOR SHARE",
            self.name,
            self.holder,
            epoch,
        )
        return row is not None

    async def release(self) -> None:
        """Give the lease up (on shutdown): another gateway may take it at once."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE leader_leases SET expires_at = now() WHERE name = $1 AND holder = $2",
                self.name,
                self.holder,
            )
