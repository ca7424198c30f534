"""The Work Run error hierarchy: each class names its problem+json code, none its HTTP status.

SandboxError (hive.sandbox.errors)
 └── WorkRunError                                                  conflict
      ├── TaskNotFound         no stream for that task id           not_found
      ├── InvalidRequest       a body the domain refuses            validation_failed
      ├── ArchiveRejected      hostile or oversized archive         archive_rejected
      ├── StateConflict        illegal transition / lost race       invalid_state_transition
      ├── DuplicateTask        a task with that id exists           conflict
      └── ArtifactNotFound     no artifact of that name             not_found
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.sandbox.errors import SandboxError


class WorkRunError(SandboxError):
    """Base of every Work Run domain error."""

    code = ErrorCode.CONFLICT


class TaskNotFound(WorkRunError):
    """No Work Run with this task id."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no dev task {task_id!r}")
        self.task_id = task_id


class InvalidRequest(WorkRunError):
    """The request is well-formed but the domain refuses it."""

    code = ErrorCode.VALIDATION_FAILED


class ArchiveRejected(WorkRunError):
    """A workspace archive was refused; nothing was written outside the task dir."""

    code = ErrorCode.ARCHIVE_REJECTED


class StateConflict(WorkRunError):
    """The action is not legal in the task's current state (or another caller won)."""

    code = ErrorCode.INVALID_STATE_TRANSITION

    def __init__(self, message: str, *, state: str | None = None) -> None:
        # The state travels in the problem body's `extra` (clients show it).
        super().__init__(message, extra={"state": state} if state else None)
        self.state = state


class DuplicateTask(WorkRunError):
    """A task with this id already exists."""

    code = ErrorCode.CONFLICT


class ArtifactNotFound(WorkRunError):
    """No artifact of that name on the task."""

    code = ErrorCode.NOT_FOUND
