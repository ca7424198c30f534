"""The Work Run error hierarchy; the API maps each class to one problem+json code.

WorkRunError
 ├── TaskNotFound             no stream for that task id           404 not_found
 ├── InvalidRequest           a body the domain refuses            422 validation_failed
 ├── ArchiveRejected          hostile or oversized archive         422 archive_rejected
 ├── StateConflict            illegal transition / lost race       409 invalid_state_transition
 ├── DuplicateTask            a task with that id exists           409 conflict
 └── ArtifactNotFound         no artifact of that name             404 not_found
"""

from __future__ import annotations


class WorkRunError(Exception):
    """Base of every Work Run domain error."""


class TaskNotFound(WorkRunError):
    """No Work Run with this task id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no dev task {task_id!r}")
        self.task_id = task_id


class InvalidRequest(WorkRunError):
    """The request is well-formed but the domain refuses it."""


class ArchiveRejected(WorkRunError):
    """A workspace archive was refused; nothing was written outside the task dir."""


class StateConflict(WorkRunError):
    """The action is not legal in the task's current state (or another caller won)."""

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class DuplicateTask(WorkRunError):
    """A task with this id already exists."""


class ArtifactNotFound(WorkRunError):
    """No artifact of that name on the task."""
