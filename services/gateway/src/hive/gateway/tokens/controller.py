"""/internal/task-tokens: issue and revoke task tokens (internal secret only)."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Router, delete, post
from litestar.di import Provide

from hive.contracts.api import TaskTokenIssued, TaskTokenRequest
from hive.gateway.errors import Invalid
from hive.gateway.platform.openapi_problems import problems
from hive.gateway.runtime import Services
from hive.gateway.tokens.guards import internal_secret
from hive.gateway.tokens.service import TaskTokenService, TokenRequestError

INTERNAL_PROBLEMS = problems(400, 401, 422, 503)


class RevokeTokens(msgspec.Struct, kw_only=True):
    """POST /internal/task-tokens/revocations: every token of one task or agent."""

    task_id: str | None = None
    agent_id: str | None = None
    reason: str | None = None


class Revoked(msgspec.Struct, kw_only=True):
    """Tokens of this subject issued up to `issued_before` are refused from now on."""

    subject: str
    issued_before: datetime


@post("/internal/task-tokens", status_code=201, responses=INTERNAL_PROBLEMS, tags=["internal"])
async def issue_task_token(tokens: TaskTokenService, data: TaskTokenRequest) -> TaskTokenIssued:
    """A short-lived token bound to a task or agent (default TTL 15 minutes)."""
    try:
        return tokens.issue(data)
    except TokenRequestError as exc:
        raise Invalid(str(exc)) from exc


@delete(
    "/internal/task-tokens/{jti:str}",
    status_code=204,
    responses=INTERNAL_PROBLEMS,
    tags=["internal"],
)
async def revoke_task_token(tokens: TaskTokenService, jti: str) -> None:
    """Revoke one token by its jti (idempotent)."""
    await tokens.revoke_jti(jti)


@post(
    "/internal/task-tokens/revocations",
    status_code=201,
    responses=INTERNAL_PROBLEMS,
    tags=["internal"],
)
async def revoke_subject_tokens(tokens: TaskTokenService, data: RevokeTokens) -> Revoked:
    """Revoke every token of a task or an agent issued up to now."""
    try:
        at = await tokens.revoke_subject(
            task_id=data.task_id, agent_id=data.agent_id, reason=data.reason
        )
    except TokenRequestError as exc:
        raise Invalid(str(exc)) from exc
    subject = f"task:{data.task_id}" if data.task_id else f"agent:{data.agent_id}"
    return Revoked(subject=subject, issued_before=at)


def _tokens(services: Services) -> TaskTokenService:
    return services.tokens


def router() -> Router:
    """/internal/task-tokens behind the internal secret."""
    return Router(
        path="/",
        guards=[internal_secret],
        security=[{"internalSecret": []}],
        dependencies={"tokens": Provide(_tokens, sync_to_thread=False)},
        route_handlers=[issue_task_token, revoke_task_token, revoke_subject_tokens],
    )
