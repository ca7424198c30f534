"""The sandbox's error hierarchy: each a refusal with a stable code, none with HTTP.

HiveError (hive.contracts.problems: the one mapping to problem+json)
 └── SandboxError
      ├── Unauthorized      unauthorized (or the token's own code: token_expired, token_revoked)
      ├── Forbidden         forbidden (or token_scope: a task token outside its task)
      ├── Invalid           validation_failed (a NUL where none may be)
      ├── Unavailable       unavailable (starting, shutting down, revocations unreadable)
      ├── CommandError      governed commands (hive.sandbox.commands.errors)
      └── WorkRunError      Work Runs (hive.sandbox.workruns.errors)

Store errors (`hive.events`) and task-token errors (`hive.contracts.tokens`) are
HiveErrors of their own packages and reach callers the same way; asyncpg's are
translated by `hive.events.DRIVER_ERRORS`, installed with the plugin in main.py.
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError


class SandboxError(HiveError):
    """Base of every refusal the sandbox raises."""


class Unauthorized(SandboxError):
    """No valid credential (a more precise token code may be given)."""

    code = ErrorCode.UNAUTHORIZED


class Forbidden(SandboxError):
    """A valid credential that may not do this."""

    code = ErrorCode.FORBIDDEN


class Invalid(SandboxError):
    """A request the sandbox refuses as given."""

    code = ErrorCode.VALIDATION_FAILED


class Unavailable(SandboxError):
    """Not ready to answer now: starting, shutting down, a dependency down."""

    code = ErrorCode.UNAVAILABLE
