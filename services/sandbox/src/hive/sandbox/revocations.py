"""Task-token revocation as the sandbox sees it: the gateway's table, read through a short cache.

The sandbox verifies a token's signature and expiry offline (`hive.contracts.tokens`);
whether the gateway revoked it since is a row in `task_token_revocations` (migration
0004), by `jti` or by subject (`task:<id>` / `agent:<id>`, every token issued up to
`issued_before`). The rule mirrors `hive.gateway.task_tokens.TaskTokenService.is_revoked`
(services share the database, not code). Each token's answer is reused for
`ttl_s`, so a busy attempt costs one indexed query every few seconds, and a
revocation takes effect at most `ttl_s` after the row lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from hive.contracts.tokens import TaskTokenClaims

_QUERY = (
    "SELECT EXISTS (SELECT 1 FROM task_token_revocations WHERE jti = $1) "
    "OR EXISTS (SELECT 1 FROM task_token_revocations "
    "WHERE subject = ANY($2::text[]) AND issued_before >= to_timestamp($3))"
)


def subjects(claims: TaskTokenClaims) -> list[str]:
    """The revocation subjects a token belongs to."""
    out = []
    if claims.task_id is not None:
        out.append(f"task:{claims.task_id}")
    if claims.agent_id is not None:
        out.append(f"agent:{claims.agent_id}")
    return out


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
            revoked = bool(await conn.fetchval(_QUERY, claims.jti, subjects(claims), claims.iat))
        if len(self._seen) >= self.max_entries:
            self._forget_old(now)
        self._seen[claims.jti] = (revoked, now)
        return revoked

    def _forget_old(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if now - v[1] < self.ttl_s}
        if len(self._seen) >= self.max_entries:  # all fresh: a flood of distinct tokens
            self._seen.clear()
