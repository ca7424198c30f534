"""POST /api/auth/login, POST /api/auth/logout, GET /api/auth/me."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.types import ControllerRouterHandler

from hive.contracts.api import LoginRequest
from hive.gateway.errors import RateLimited, Unauthorized
from hive.gateway.operators.guards import current_operator, operator_session
from hive.gateway.operators.passwords import hash_password, needs_rehash, verify_password
from hive.gateway.operators.sessions import CSRF_COOKIE, SESSION_COOKIE
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems
from hive.gateway.runtime import GatewayRuntime, Services


class SessionInfo(msgspec.Struct, kw_only=True):
    """Who is logged in, and the CSRF token to echo in `X-CSRFToken`."""

    user_id: str
    username: str
    is_admin: bool
    csrf_token: str
    expires_at: datetime | None = None


def _set_cookies(
    response: Response[Any], rt: GatewayRuntime, token: str, max_age: int | None
) -> None:
    secure = rt.settings.cookie_secure
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    # Readable by the dashboard's script on purpose: it echoes it as X-CSRFToken.
    response.set_cookie(
        CSRF_COOKIE,
        rt.session_keys.csrf_token(token),
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@post(
    "/api/auth/login",
    status_code=200,
    opt={"public": True},
    responses=problems(400, 401, 422, 429, 503),
    tags=["auth"],
)
async def login(
    request: Request[Any, Any, Any], data: LoginRequest, rt: GatewayRuntime, services: Services
) -> Response[SessionInfo]:
    """Check the password, open a server-side session, set the session and CSRF cookies."""
    client = _client(request)
    wait = rt.throttle.retry_after(data.username, client)
    if wait is not None:
        rt.metrics.logins.labels("throttled").inc()
        raise RateLimited("too many failed logins; wait before trying again", retry_after_s=wait)
    record = await services.users.by_username(data.username)
    ok = await verify_password(record.password_hash if record else None, data.password)
    if record is None or not ok or record.disabled:
        rt.throttle.failed(data.username, client)
        rt.metrics.logins.labels("failed").inc()
        raise Unauthorized("wrong username or password")
    rt.throttle.succeeded(data.username)
    rt.metrics.logins.labels("ok").inc()
    if needs_rehash(record.password_hash):
        await services.users.set_password_hash(
            record.operator.user_id, await hash_password(data.password)
        )
    token, expires = await services.sessions.create(record.operator.user_id)
    op = record.operator
    response = Response(
        SessionInfo(
            user_id=op.user_id,
            username=op.username,
            is_admin=op.is_admin,
            csrf_token=rt.session_keys.csrf_token(token),
            expires_at=expires,
        )
    )
    _set_cookies(response, rt, token, rt.settings.session_ttl_s)
    return response


@post(
    "/api/auth/logout",
    status_code=204,
    responses=problems(*SESSION_PROBLEMS),
    tags=["auth"],
)
async def logout(request: Request[Any, Any, Any], services: Services) -> Response[None]:
    """End this session and clear its cookies."""
    await services.sessions.delete(request.state.session_token)
    response: Response[None] = Response(None, status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@get(
    "/api/auth/me",
    responses=problems(*SESSION_PROBLEMS),
    tags=["auth"],
)
async def me(request: Request[Any, Any, Any], rt: GatewayRuntime) -> Response[SessionInfo]:
    """The logged-in operator; (re)sets the csrftoken cookie for this session."""
    op = current_operator(request)
    token: str = request.state.session_token
    response = Response(
        SessionInfo(
            user_id=op.user_id,
            username=op.username,
            is_admin=op.is_admin,
            csrf_token=rt.session_keys.csrf_token(token),
        )
    )
    response.set_cookie(
        CSRF_COOKIE,
        rt.session_keys.csrf_token(token),
        path="/",
        secure=rt.settings.cookie_secure,
        httponly=False,
        samesite="lax",
    )
    return response


def operator_router(*route_handlers: ControllerRouterHandler) -> Router:
    """Routes behind a live operator session (documented as the operatorSession scheme)."""
    return Router(
        path="/",
        guards=[operator_session],
        security=[{"operatorSession": []}],
        route_handlers=list(route_handlers),
    )
