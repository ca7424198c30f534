"""Guards of the service-to-service routes: the internal secret, the apply-back token."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from hive.gateway.errors import NotFound, Unauthorized
from hive.gateway.runtime import runtime_of


def bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The `Authorization: Bearer` credential, if any."""
    auth = connection.headers.get("authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def internal_secret(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: `X-Internal-Secret` (or Bearer) equal to HIVE_INTERNAL_SECRET."""
    given = connection.headers.get("x-internal-secret")
    if given is None:
        given = bearer(connection)
    secret = runtime_of(connection).settings.internal_secret
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized("internal secret required")


def workspace_apply_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: `Authorization: Bearer` equal to HIVE_WORKSPACE_APPLY_RELAY_TOKEN."""
    expected = runtime_of(connection).settings.workspace_apply_token
    if expected is None:  # the route is not mounted then; refuse should it ever be reached
        raise NotFound("workspace apply relay is not configured")
    given = bearer(connection) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Authorization: Bearer <workspace apply relay token>")


def metrics_access(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: /metrics needs the internal secret unless HIVE_METRICS_PUBLIC=true."""
    if not runtime_of(connection).settings.metrics_public:
        internal_secret(connection, handler)
