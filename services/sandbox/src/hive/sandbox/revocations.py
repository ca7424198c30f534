"""Task-token revocation as the sandbox sees it: the gateway's table, read through a short cache.

The sandbox verifies a token's signature and expiry offline (`hive.contracts.tokens`);
whether the gateway revoked it since is a row in `task_token_revocations` (migration
0004), by `jti` or by subject (`task:<id>` / `agent:<id>`, every token issued up to
`issued_before`). The rule itself is `hive.events.token_revocations.is_revoked`, shared with the
gateway. Each token's answer is reused for
`ttl_s`, so a busy attempt costs one indexed query every few seconds, and a
revocation takes effect at most `ttl_s` after the row lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from hive.contracts.tokens import TaskTokenClaims
from hive.events import token_revocations


class RevocationCheck:
    """`await check.is_revoked(claims)`: asks the database at most once per token per `ttl_s`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: dict[str, tuple[bool, float]] = {}

    async def is_revoked(self, claims: TaskTokenClaims) -> bool:
        """True when the gateway revoked this token (or its task/agent) after issuing it."""
        now = self._clock()
        hit = self._seen.get(claims.jti)
        if hit is not None and now - hit[1] < self.ttl_s:
            return hit[0]
        async with self.pool.acquire() as conn:
            revoked = await token_revocations.is_revoked(conn, claims)
        if len(self._seen) >= self.max_entries:
            self._forget_old(now)
        self._seen[claims.jti] = (revoked, now)
        return revoked

    def _forget_old(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if now - v[1] < self.ttl_s}
        if len(self._seen) >= self.max_entries:  # all fresh: a flood of distinct tokens
            self._seen.clear()
