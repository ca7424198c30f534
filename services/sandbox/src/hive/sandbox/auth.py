"""Who may call the sandbox: the internal secret, or an unrevoked task token scoped to the task."""

from __future__ import annotations

import hmac
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from hive.contracts.errors import ErrorCode
from hive.contracts.tokens import TaskTokenClaims, sandbox_task_scope, verify
from hive.sandbox.errors import Forbidden, Unauthorized, Unavailable
from hive.sandbox.revocations import RevocationCheck


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> TaskTokenClaims | None:
    """None for the internal secret (full access), else the verified task token's claims."""
    secret: str = connection.app.state.settings.internal_secret
    given = connection.headers.get("x-internal-secret")
    if given is not None:
        if hmac.compare_digest(given.encode(), secret.encode()):
            return None
        raise Unauthorized("bad internal secret")
    auth = connection.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise Unauthorized("X-Internal-Secret or a task token required")
    token = auth[7:].strip()
    if hmac.compare_digest(token.encode(), secret.encode()):
        return None
    # A refused token raises TokenError, a HiveError whose code (unauthorized,
    # token_expired) answers 401 through the one mapping.
    return verify(secret, token)


async def authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: the internal secret, or a valid task token the gateway has not revoked."""
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop
    # per request that cost more than everything the check itself does.
    claims = caller(connection)
    if claims is not None:
        revocations: RevocationCheck | None = connection.app.state.get("revocations")
        if revocations is None:
            raise Unavailable("the sandbox is starting")
        try:
            revoked = await revocations.is_revoked(claims)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # Fail closed: a token whose revocation cannot be checked is not honoured.
            raise Unavailable("cannot check task-token revocation now") from exc
        if revoked:
            raise Unauthorized("task token revoked", code=ErrorCode.TOKEN_REVOKED)
    connection.scope.setdefault("state", {})["caller"] = claims


def require_task_access(
    connection: ASGIConnection[Any, Any, Any, Any], task_id: str | None
) -> None:
    """A task token may reach only its own task; the internal secret reaches all."""
    claims = connection.scope.get("state", {}).get("caller")
    if claims is None:
        return
    if task_id is None or sandbox_task_scope(task_id) not in claims.scopes:
        raise Forbidden("task token is not scoped to this task", code=ErrorCode.TOKEN_SCOPE)
