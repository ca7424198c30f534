"""/internal/task-tokens: issue and revoke task tokens (internal secret only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, delete, post

from hive.contracts.api import TaskTokenIssued, TaskTokenRequest
from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.gateway.api.docs import problems
from hive.gateway.auth import runtime_of
from hive.gateway.task_tokens import TokenRequestError

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
async def issue_task_token(
    request: Request[Any, Any, Any], data: TaskTokenRequest
) -> TaskTokenIssued:
    """A short-lived token bound to a task or agent (default TTL 15 minutes)."""
    try:
        return runtime_of(request).require().tokens.issue(data)
    except TokenRequestError as exc:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, str(exc)) from exc


@delete(
    "/internal/task-tokens/{jti:str}",
    status_code=204,
    responses=INTERNAL_PROBLEMS,
    tags=["internal"],
)
async def revoke_task_token(request: Request[Any, Any, Any], jti: str) -> None:
    """Revoke one token by its jti (idempotent)."""
    await runtime_of(request).require().tokens.revoke_jti(jti)


@post(
    "/internal/task-tokens/revocations",
    status_code=201,
    responses=INTERNAL_PROBLEMS,
    tags=["internal"],
)
async def revoke_subject_tokens(request: Request[Any, Any, Any], data: RevokeTokens) -> Revoked:
    """Revoke every token of a task or an agent issued up to now."""
    try:
        at = (
            await runtime_of(request)
            .require()
            .tokens.revoke_subject(task_id=data.task_id, agent_id=data.agent_id, reason=data.reason)
        )
    except TokenRequestError as exc:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, str(exc)) from exc
    subject = f"task:{data.task_id}" if data.task_id else f"agent:{data.agent_id}"
    return Revoked(subject=subject, issued_before=at)
