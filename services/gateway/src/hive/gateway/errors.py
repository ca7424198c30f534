"""The gateway's error hierarchy: each a refusal with a stable code, none with HTTP.

HiveError (hive.contracts.problems: the one mapping to problem+json)
 └── GatewayError
      ├── NotFound          not_found (also: an id no stored id could look like)
      ├── Invalid           validation_failed
      ├── Conflict          conflict
      ├── TooLarge          payload_too_large
      ├── Unauthorized      unauthorized
      ├── CsrfFailed        csrf_failed
      ├── RateLimited       rate_limited (with retry_after_s)
      ├── UpstreamFailed    upstream_error (the sandbox or a model provider)
      └── Unavailable       unavailable (starting, draining, git missing)

Domain modules raise these (or their own subclasses); an upstream's own 4xx is
passed on as `hive.contracts.problems.UpstreamAnswer`.
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError


class GatewayError(HiveError):
    """Base of every refusal the gateway raises."""


class NotFound(GatewayError):
    """No such thing (or not in this project)."""

    code = ErrorCode.NOT_FOUND


class Invalid(GatewayError):
    """The request is well-formed but cannot be acted on as given."""

    code = ErrorCode.VALIDATION_FAILED


class Conflict(GatewayError):
    """The request conflicts with what is stored."""

    code = ErrorCode.CONFLICT


class TooLarge(GatewayError):
    """Past a size limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unauthorized(GatewayError):
    """No (valid) credentials."""

    code = ErrorCode.UNAUTHORIZED


class CsrfFailed(GatewayError):
    """A state-changing request without the session's CSRF token."""

    code = ErrorCode.CSRF_FAILED


class RateLimited(GatewayError):
    """Too many requests; `retry_after_s` says when to try again."""

    code = ErrorCode.RATE_LIMITED


class UpstreamFailed(GatewayError):
    """The sandbox or a model provider failed or could not be reached."""

    code = ErrorCode.UPSTREAM_ERROR


class Unavailable(GatewayError):
    """Not ready (starting, draining) or a needed tool is missing."""

    code = ErrorCode.UNAVAILABLE
