"""The operator-session guard: every `/api/*` route except login sits behind it.

State-changing methods also need the CSRF header. The guard authenticates
first, so an anonymous request gets 401 whatever else is wrong with it.
"""

from __future__ import annotations

from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import HTTPScope

from hive.gateway.errors import CsrfFailed, Unauthorized
from hive.gateway.operators.sessions import CSRF_HEADER, SESSION_COOKIE
from hive.gateway.operators.users import Operator
from hive.gateway.runtime import runtime_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def operator_session(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: a live operator session; CSRF token on state-changing methods."""
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("login required")
    rt = runtime_of(connection)
    operator = await rt.require().sessions.operator(token)
    if operator is None:
        raise Unauthorized("session expired or unknown")
    connection.state.operator = operator
    connection.state.session_token = token
    method = cast("HTTPScope", connection.scope)["method"]
    if method not in SAFE_METHODS and not rt.session_keys.csrf_ok(
        token, connection.headers.get(CSRF_HEADER)
    ):
        raise CsrfFailed("missing or wrong X-CSRFToken header (echo the csrftoken cookie)")


def current_operator(connection: ASGIConnection[Any, Any, Any, Any]) -> Operator:
    """The operator the session guard found."""
    return cast(Operator, connection.state.operator)
