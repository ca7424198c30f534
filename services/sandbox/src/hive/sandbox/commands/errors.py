"""Errors of governed commands: each a refusal with a stable `code`, none with HTTP.

    SandboxError (hive.sandbox.errors)
    └── CommandError
        ├── PolicyViolation         refused before anything ran; the code says why:
        │                           shell_entrypoint_rejected, env_override_rejected,
        │                           executable_not_allowlisted, registry_not_allowlisted,
        │                           cwd_outside_workspace, validation_failed
        ├── CommandNotFound         not_found
        ├── CommandElsewhere        conflict: another sandbox process runs it
        └── CommandsClosing         unavailable: this sandbox is shutting down

In-process callers (Work Runs) catch them like any other exception; over HTTP
they become problem+json through the one mapping (hive.contracts.problems).
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.sandbox.errors import SandboxError


class CommandError(SandboxError):
    """Base of every governed-command error."""

    code = ErrorCode.CONFLICT


class PolicyViolation(CommandError):
    """A request refused before anything ran."""

    code = ErrorCode.VALIDATION_FAILED

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail, code=code)


class CommandNotFound(CommandError):
    """No command with that id."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, command_id: str) -> None:
        super().__init__(f"no command {command_id!r}")
        self.command_id = command_id


class CommandElsewhere(CommandError):
    """The command runs under another sandbox process: this one cannot act on it."""

    code = ErrorCode.CONFLICT


class CommandsClosing(CommandError):
    """The sandbox is shutting down and starts nothing new."""

    code = ErrorCode.UNAVAILABLE
