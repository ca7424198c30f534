"""Stable error codes and the problem+json body every service answers with."""

from __future__ import annotations

import enum

import msgspec


class ErrorCode(enum.StrEnum):
    """The `code` field of every problem+json error. Add, never rename."""

    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    VALIDATION_FAILED = "validation_failed"
    VERSION_CONFLICT = "version_conflict"
    INVALID_STATE_TRANSITION = "invalid_state_transition"
    SHELL_ENTRYPOINT_REJECTED = "shell_entrypoint_rejected"
    ENV_OVERRIDE_REJECTED = "env_override_rejected"
    EXECUTABLE_NOT_ALLOWLISTED = "executable_not_allowlisted"
    REGISTRY_NOT_ALLOWLISTED = "registry_not_allowlisted"
    CWD_OUTSIDE_WORKSPACE = "cwd_outside_workspace"
    ARCHIVE_REJECTED = "archive_rejected"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_SCOPE = "token_scope"
    UPSTREAM_ERROR = "upstream_error"
    STREAM_TOO_LONG = "stream_too_long"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    INTERNAL_ERROR = "internal_error"
    TOKEN_REVOKED = "token_revoked"
    CSRF_FAILED = "csrf_failed"
    UNAVAILABLE = "unavailable"
    PATH_OUTSIDE_WORKSPACE = "path_outside_workspace"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    AGENT_BUSY = "agent_busy"
    MEMORY_LIMIT = "memory_limit"
    BUDGET_EXHAUSTED = "budget_exhausted"


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details with the OpenHive `code` extension."""

    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    extra: dict[str, object] | None = None


PROBLEM_CONTENT_TYPE = "application/problem+json"
