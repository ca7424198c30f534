"""The relay guard: a live task token with `relay:model`, within its rate limit."""

from __future__ import annotations

from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from hive.contracts.tokens import SCOPE_RELAY, TaskTokenClaims
from hive.gateway.errors import RateLimited, Unauthorized
from hive.gateway.runtime import runtime_of
from hive.gateway.tokens.guards import bearer


async def relay_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a live task token with `relay:model` (a TokenError says why not)."""
    token = bearer(connection)
    if token is None:
        raise Unauthorized("Authorization: Bearer <task token>")
    rt = runtime_of(connection)
    claims = await rt.require().tokens.check(token, SCOPE_RELAY)
    wait = rt.buckets.take(claims.jti)
    if wait is not None:
        raise RateLimited("relay rate limit for this task token", retry_after_s=wait)
    connection.state.claims = claims


def relay_claims(connection: ASGIConnection[Any, Any, Any, Any]) -> TaskTokenClaims:
    """The claims the relay guard verified."""
    return cast(TaskTokenClaims, connection.state.claims)
