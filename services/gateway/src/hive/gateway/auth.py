"""Guards: operator sessions (with CSRF), the internal secret, task tokens.

Every `/api/*` route except login sits behind `operator_session`; state-changing
methods there also need the CSRF header. The guard authenticates first, so an
anonymous request gets 401 whatever else is wrong with it.
"""

from __future__ import annotations

import hmac
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.contracts.tokens import SCOPE_RELAY, TaskTokenClaims, TokenError
from hive.gateway.runtime import GatewayRuntime
from hive.gateway.sessions import CSRF_HEADER, SESSION_COOKIE
from hive.gateway.users import Operator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN_STATUS = {"token_scope": 403}


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> GatewayRuntime:
    """The app's runtime."""
    rt: GatewayRuntime = connection.app.state.runtime
    return rt


async def operator_session(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: a live operator session; CSRF token on state-changing methods."""
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise HiveHTTPError(401, ErrorCode.UNAUTHORIZED, "login required")
    rt = runtime_of(connection)
    operator = await rt.require().sessions.operator(token)
    if operator is None:
        raise HiveHTTPError(401, ErrorCode.UNAUTHORIZED, "session expired or unknown")
    connection.state.operator = operator
    connection.state.session_token = token
    if cast("HTTPScope", connection.scope)[
        "method"
    ] not in SAFE_METHODS and not rt.session_keys.csrf_ok(
        token, connection.headers.get(CSRF_HEADER)
    ):
        raise HiveHTTPError(
            403,
            ErrorCode.CSRF_FAILED,
            "missing or wrong X-CSRFToken header (echo the csrftoken cookie)",
        )


def current_operator(connection: ASGIConnection[Any, Any, Any, Any]) -> Operator:
    """The operator the session guard found."""
    return cast(Operator, connection.state.operator)


def _given_secret(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    given = connection.headers.get("x-internal-secret")
    if given is None:
        auth = connection.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
    return given


def internal_secret(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: `X-Internal-Secret` (or Bearer) equal to HIVE_INTERNAL_SECRET."""
    given = _given_secret(connection)
    secret = runtime_of(connection).settings.internal_secret
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise HiveHTTPError(401, ErrorCode.UNAUTHORIZED, "internal secret required")


def workspace_apply_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: `Authorization: Bearer` equal to HIVE_WORKSPACE_APPLY_RELAY_TOKEN."""
    expected = runtime_of(connection).settings.workspace_apply_token
    if expected is None:  # the route is not mounted then; refuse should it ever be reached
        raise HiveHTTPError(404, ErrorCode.NOT_FOUND, "workspace apply relay is not configured")
    auth = connection.headers.get("authorization", "")
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HiveHTTPError(
            401, ErrorCode.UNAUTHORIZED, "Authorization: Bearer <workspace apply relay token>"
        )


def metrics_access(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: /metrics needs the internal secret unless HIVE_METRICS_PUBLIC=true."""
    if not runtime_of(connection).settings.metrics_public:
        internal_secret(connection, handler)


async def relay_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a live task token with `relay:model`, within its rate limit."""
    auth = connection.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        raise HiveHTTPError(401, ErrorCode.UNAUTHORIZED, "Authorization: Bearer <task token>")
    rt = runtime_of(connection)
    try:
        claims = await rt.require().tokens.check(auth[7:].strip(), SCOPE_RELAY)
    except TokenError as exc:
        raise HiveHTTPError(_TOKEN_STATUS.get(exc.code, 401), exc.code, str(exc)) from exc
    wait = rt.buckets.take(claims.jti)
    if wait is not None:
        raise HiveHTTPError(
            429,
            ErrorCode.RATE_LIMITED,
            "relay rate limit for this task token",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    connection.state.claims = claims


def relay_claims(connection: ASGIConnection[Any, Any, Any, Any]) -> TaskTokenClaims:
    """The claims the relay guard verified."""
    return cast(TaskTokenClaims, connection.state.claims)
