"""Whether a task token was revoked: the one rule over `task_token_revocations` (migration 0004).

The gateway writes the rows; the gateway's relay and the sandbox's task-scoped
routes both ask this. A token is revoked when its `jti` has a row, or when its
task or agent subject was revoked at or after the token was issued.
"""

from __future__ import annotations

import asyncpg

from hive.contracts.tokens import TaskTokenClaims, revocation_subjects

_REVOKED = (
    "SELECT EXISTS (SELECT 1 FROM task_token_revocations WHERE jti = $1) "
    "OR EXISTS (SELECT 1 FROM task_token_revocations "
    "WHERE subject = ANY($2::text[]) AND issued_before >= to_timestamp($3))"
)


async def is_revoked(conn: asyncpg.Connection, claims: TaskTokenClaims) -> bool:
    """True when the token, or its task/agent, was revoked after it was issued."""
    subjects = revocation_subjects(claims.task_id, claims.agent_id)
    return bool(await conn.fetchval(_REVOKED, claims.jti, subjects, claims.iat))
