"""Errors of governed commands: each is a HiveHTTPError with a stable `code`.

    HiveHTTPError
    └── CommandError
        ├── PolicyViolation (422)       shell_entrypoint_rejected, env_override_rejected,
        │                               executable_not_allowlisted, registry_not_allowlisted,
        │                               cwd_outside_workspace, validation_failed
        └── CommandNotFound (404)       not_found

In-process callers (Work Runs) catch them like any other exception; over HTTP
they become problem+json through the one mapping in hive.contracts.http.
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError


class CommandError(HiveHTTPError):
    """Base of every governed-command error."""


class PolicyViolation(CommandError):
    """A request refused before anything ran."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(422, code, detail)


class CommandNotFound(CommandError):
    """No command with that id."""

    def __init__(self, command_id: str) -> None:
        super().__init__(404, ErrorCode.NOT_FOUND, f"no command {command_id!r}")
        self.command_id = command_id
