"""Who may call the sandbox: the internal secret, or a task token scoped to the task."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.contracts.tokens import TaskTokenClaims, TokenError, sandbox_task_scope, verify


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> TaskTokenClaims | None:
    """None for the internal secret (full access), else the verified task token's claims."""
    secret: str = connection.app.state.settings.internal_secret
    given = connection.headers.get("x-internal-secret")
    if given is not None:
        if hmac.compare_digest(given.encode(), secret.encode()):
            return None
        raise HiveHTTPError(401, ErrorCode.UNAUTHORIZED, "bad internal secret")
    auth = connection.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise HiveHTTPError(
            401, ErrorCode.UNAUTHORIZED, "X-Internal-Secret or a task token required"
        )
    token = auth[7:].strip()
    if hmac.compare_digest(token.encode(), secret.encode()):
        return None
    try:
        return verify(secret, token)
    except TokenError as exc:
        raise HiveHTTPError(401, exc.code, str(exc)) from exc


async def authenticated(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: the internal secret or any valid task token."""
    # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop
    # per request that cost more than everything the check itself does.
    connection.scope.setdefault("state", {})["caller"] = caller(connection)


def require_task_access(
    connection: ASGIConnection[Any, Any, Any, Any], task_id: str | None
) -> None:
    """A task token may reach only its own task; the internal secret reaches all."""
    claims = connection.scope.get("state", {}).get("caller")
    if claims is None:
        return
    if task_id is None or sandbox_task_scope(task_id) not in claims.scopes:
        raise HiveHTTPError(403, ErrorCode.TOKEN_SCOPE, "task token is not scoped to this task")
