"""problem+json for every Litestar app: one error hierarchy, one mapping, one plugin.

HiveError                a refusal with a stable `ErrorCode`; no HTTP in it
 ├── UpstreamAnswer      an upstream refused; its own 4xx status (and code) passed on
 └── each package's own errors (`hive.events` store errors, gateway domains...)

`ProblemDetails` is the plugin every app installs. It maps, once:

- a HiveError to `STATUS[code]` (Retry-After from `retry_after_s`);
- a foreign exception (a database driver's) through the app's `translations`,
  which name a code, never a status;
- Litestar's validation errors to 422 `validation_failed`, its other HTTP
  exceptions to their status with the code `CODE_OF_STATUS` gives;
- JSON nested too deeply for msgspec (RecursionError) to 422;
- anything else to 500 `internal_error`, whose detail never echoes the exception
  (it may hold secrets); the traceback goes to the log instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins import InitPluginProtocol

from hive.contracts.errors import PROBLEM_CONTENT_TYPE, ErrorCode, Problem

log = logging.getLogger("hive.http")

STATUS: Final[Mapping[ErrorCode, int]] = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.TOKEN_REVOKED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOKEN_SCOPE: 403,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.PATH_OUTSIDE_WORKSPACE: 403,
    # Not 429: the refusal stands until the operator grants more; retrying cannot help.
    ErrorCode.BUDGET_EXHAUSTED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.INVALID_STATE_TRANSITION: 409,
    ErrorCode.STREAM_TOO_LONG: 409,
    ErrorCode.AGENT_BUSY: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.SHELL_ENTRYPOINT_REJECTED: 422,
    ErrorCode.ENV_OVERRIDE_REJECTED: 422,
    ErrorCode.EXECUTABLE_NOT_ALLOWLISTED: 422,
    ErrorCode.REGISTRY_NOT_ALLOWLISTED: 422,
    ErrorCode.CWD_OUTSIDE_WORKSPACE: 422,
    ErrorCode.ARCHIVE_REJECTED: 422,
    ErrorCode.MEMORY_LIMIT: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.HTTP_ERROR: 500,
    ErrorCode.UPSTREAM_ERROR: 502,
    ErrorCode.UNAVAILABLE: 503,
}
"""The HTTP status of each code: the one place a domain refusal becomes a status."""

CODE_OF_STATUS: Final[Mapping[int, ErrorCode]] = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.UPSTREAM_ERROR,
    503: ErrorCode.UNAVAILABLE,
}
"""The code of an HTTP exception Litestar raised itself (routing, body limits...)."""


class HiveError(Exception):
    """A refusal with a stable `code` (the class default unless given)."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: ErrorCode | None = None,
        extra: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        super().__init__(detail or self.code)
        self.detail = detail
        self.extra = extra
        self.retry_after_s = retry_after_s


class UpstreamAnswer(HiveError):
    """An upstream service refused; the caller sees the upstream's own 4xx status.

    `code` passes on the upstream's own problem code (an OpenHive service's: an
    agent runtime's `agent_busy`); one outside ErrorCode becomes `upstream_error`.
    """

    code = ErrorCode.UPSTREAM_ERROR

    def __init__(self, upstream_status: int, detail: str, *, code: object = None) -> None:
        known = ErrorCode._value2member_map_.get(code) if isinstance(code, str) else None
        super().__init__(detail, code=known if isinstance(known, ErrorCode) else None)
        self.upstream_status = upstream_status


@dataclass(frozen=True, slots=True)
class Translation:
    """How a foreign exception (a driver's) reaches the caller: a code and a safe detail."""

    code: ErrorCode
    detail: str
    """May name `{name}`, the exception's class name; never its message (it may hold data)."""
    warn: bool = False
    """Log a warning naming the path and the exception's class (an outage, not a bad request)."""


def status_of(exc: HiveError) -> int:
    """The HTTP status a HiveError answers with."""
    if isinstance(exc, UpstreamAnswer) and 400 <= exc.upstream_status < 500:
        return exc.upstream_status
    return STATUS.get(exc.code, 500)


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
    return Response(
        Problem(
            title=code.replace("_", " ").capitalize(),
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


def _hive_error(request: Request[Any, Any, Any], exc: HiveError) -> Response[Problem]:
    headers: dict[str, str] = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s + 0.5)))
    return problem_response(
        status_of(exc),
        exc.code,
        exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=headers or None,
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    if isinstance(exc, ValidationException):
        extra = {"errors": exc.extra} if exc.extra else None
        return problem_response(
            422, ErrorCode.VALIDATION_FAILED, exc.detail, instance=request.url.path, extra=extra
        )
    status = exc.status_code
    code = CODE_OF_STATUS.get(status, ErrorCode.HTTP_ERROR)
    return problem_response(
        status, code, exc.detail, instance=request.url.path, headers=exc.headers
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


def _translated(
    translation: Translation,
) -> Callable[[Request[Any, Any, Any], Exception], Response[Problem]]:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
        name = type(exc).__name__
        if translation.warn:
            log.warning("%s on %s: %s", translation.detail, request.url.path, name)
        return problem_response(
            STATUS.get(translation.code, 500),
            translation.code,
            translation.detail.format(name=name),
            instance=request.url.path,
        )

    return handle


def exception_handlers(
    translations: Mapping[type[Exception], Translation] | None = None,
) -> dict[type[Exception] | int, Any]:
    """Every handler the mapping installs (most specific exception class wins)."""
    handlers: dict[type[Exception] | int, Any] = {
        HiveError: _hive_error,
        HTTPException: _http_exception,
        RecursionError: _too_deep,
        Exception: _unexpected,
    }
    for exc_type, translation in (translations or {}).items():
        handlers[exc_type] = _translated(translation)
    return handlers


class ProblemDetails(InitPluginProtocol):
    """The plugin every OpenHive app installs: its errors answer as problem+json."""

    def __init__(self, translations: Mapping[type[Exception], Translation] | None = None) -> None:
        self.translations = dict(translations or {})

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Install the mapping under whatever handlers the app set itself."""
        app_config.exception_handlers = {
            **exception_handlers(self.translations),
            **app_config.exception_handlers,
        }
        return app_config
