"""problem+json for every Litestar service: one error type, mapped once.

Domain code raises `HiveHTTPError(status, code, detail)`; validation errors
from Litestar/msgspec become 422 `validation_failed`, other HTTP exceptions
keep their status with a code derived from it, and anything unexpected is a
500 `internal_error` whose detail never echoes the exception (it may hold
secrets); the traceback goes to the log instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from hive.contracts.errors import PROBLEM_CONTENT_TYPE, ErrorCode, Problem

log = logging.getLogger("hive.http")

_STATUS_CODES: Mapping[int, str] = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: "method_not_allowed",
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.UPSTREAM_ERROR,
    503: "unavailable",
}


class HiveHTTPError(Exception):
    """An error with a stable problem+json `code`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = str(code)
        self.detail = detail
        self.extra = extra
        self.headers = headers


def problem_response(
    status: int,
    code: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    """A problem+json response."""
    title = code.replace("_", " ").capitalize()
    return Response(
        Problem(
            title=title,
            status=status,
            code=str(code),
            detail=detail,
            instance=instance,
            extra=extra,
        ),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _hive_error(request: Request[Any, Any, Any], exc: HiveHTTPError) -> Response[Problem]:
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        extra = {"errors": exc.extra} if exc.extra else None
        return problem_response(
            422, ErrorCode.VALIDATION_FAILED, exc.detail, instance=request.url.path, extra=extra
        )
    code = _STATUS_CODES.get(status, "http_error")
    return problem_response(
        status, code, exc.detail, instance=request.url.path, headers=exc.headers
    )


MAX_JSON_DEPTH = 64
"""How deeply a free-form JSON value we store may nest (checkpoint payloads): deeper
values are refused at intake, so no stored event can ever be too deep to read back."""


def json_depth(value: object) -> int:
    """Nesting depth of a decoded JSON value (iterative: no recursion limit to hit)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def refuse_deep_json(value: object, what: str) -> None:
    """422 validation_failed when `value` nests deeper than MAX_JSON_DEPTH."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise HiveHTTPError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"{what} nests deeper than {MAX_JSON_DEPTH} levels",
        )


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Problem]:
    # msgspec gives up on JSON nested ~1,000 levels deep with a RecursionError: the
    # request is at fault, not the server.
    return problem_response(
        422,
        ErrorCode.VALIDATION_FAILED,
        "the request's JSON is nested too deeply",
        instance=request.url.path,
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500, ErrorCode.INTERNAL_ERROR, "internal error", instance=request.url.path
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    HiveHTTPError: _hive_error,
    HTTPException: _http_exception,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
