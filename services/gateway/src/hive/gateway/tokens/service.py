"""Task tokens: issued by the gateway, verified offline, revocable by `jti` or subject.

The format and signature live in `hive.contracts.tokens` (the sandbox
verifies the same tokens with the shared HIVE_INTERNAL_SECRET). What the
gateway adds is policy: which scopes a request may ask for, the TTL bounds,
and the revocation table, checked on every relay call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from hive.contracts.api import TaskTokenIssued, TaskTokenRequest
from hive.contracts.errors import ErrorCode
from hive.contracts.tokens import (
    SCOPE_AGENT,
    SCOPE_RELAY,
    TaskTokenClaims,
    TokenError,
    issue,
    require_scope,
    revocation_subjects,
    sandbox_task_scope,
    verify,
)
from hive.events import token_revocations

SANDBOX_TASK_PREFIX = "sandbox:task:"


class TokenRequestError(ValueError):
    """The request asks for something a token may not carry (mapped to 422)."""


class TaskTokenService:
    """Issue, check and revoke task tokens."""

    def __init__(self, secret: str, pool: asyncpg.Pool, *, default_ttl_s: int, max_ttl_s: int):
        self._secret = secret
        self.pool = pool
        self.default_ttl_s = default_ttl_s
        self.max_ttl_s = max_ttl_s

    def issue(self, req: TaskTokenRequest) -> TaskTokenIssued:
        """A signed token for the request, or TokenRequestError."""
        if not req.task_id and not req.agent_id:
            raise TokenRequestError("a token is bound to a task_id or an agent_id")
        if not req.scopes:
            raise TokenRequestError("scopes must not be empty")
        for scope in req.scopes:
            if scope == SCOPE_RELAY:
                continue
            if scope == SCOPE_AGENT:
                # An agent runtime's own runs and tools: only for a token bound to an agent.
                if not req.agent_id:
                    raise TokenRequestError(f"scope {scope} needs an agent_id")
                continue
            if scope.startswith(SANDBOX_TASK_PREFIX):
                # A token may reach only the sandbox task it is bound to.
                if not req.task_id or scope != sandbox_task_scope(req.task_id):
                    raise TokenRequestError(f"scope {scope} does not match task_id")
                continue
            raise TokenRequestError(f"unknown scope {scope!r}")
        ttl = self.default_ttl_s if req.ttl_s is None else req.ttl_s
        if not 1 <= ttl <= self.max_ttl_s:
            raise TokenRequestError(f"ttl_s must be between 1 and {self.max_ttl_s}")
        token, claims = issue(
            self._secret,
            scopes=sorted(set(req.scopes)),
            ttl_s=ttl,
            task_id=req.task_id,
            agent_id=req.agent_id,
        )
        return TaskTokenIssued(
            token=token,
            expires_at=datetime.fromtimestamp(claims.exp, UTC),
            scopes=claims.scopes,
            jti=claims.jti,
        )

    async def check(self, token: str, scope: str) -> TaskTokenClaims:
        """Verified, unrevoked claims carrying `scope`, or TokenError."""
        claims = verify(self._secret, token)
        if await self.is_revoked(claims):
            raise TokenError(ErrorCode.TOKEN_REVOKED, "task token revoked")
        require_scope(claims, scope)
        return claims

    async def is_revoked(self, claims: TaskTokenClaims) -> bool:
        """True when the token's jti, or its task/agent, was revoked after it was issued."""
        async with self.pool.acquire() as conn:
            return await token_revocations.is_revoked(conn, claims)

    async def revoke_jti(self, jti: str, reason: str | None = None) -> None:
        """Revoke one token (idempotent)."""
        expires = datetime.now(UTC) + timedelta(seconds=self.max_ttl_s)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO task_token_revocations (jti, expires_at, reason) VALUES ($1, $2, $3) "
                "ON CONFLICT (jti) WHERE jti IS NOT NULL DO NOTHING",
                jti,
                expires,
                reason,
            )

    async def revoke_subject(
        self, *, task_id: str | None, agent_id: str | None, reason: str | None = None
    ) -> datetime:
        """Revoke every token of a task or agent issued up to now (whole seconds)."""
        found = revocation_subjects(task_id, agent_id)
        if len(found) != 1:
            raise TokenRequestError("name exactly one of task_id or agent_id")
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO task_token_revocations (subject, issued_before, expires_at, reason) "
                "VALUES ($1, $2, $3, $4)",
                found[0],
                now,
                now + timedelta(seconds=self.max_ttl_s),
                reason,
            )
        return now

    async def prune(self) -> int:
        """Drop revocations whose tokens have all expired."""
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM task_token_revocations WHERE expires_at <= now()"
            )
        return int(status.split()[-1])
