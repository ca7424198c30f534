"""Typed msgspec contracts shared by every OpenHive service.

Services never import each other; they talk HTTP through these Structs.
"""

from hive.contracts.errors import ErrorCode, Problem
from hive.contracts.events import (
    EVENT_TYPES,
    ArtifactRecorded,
    AttemptFinished,
    AttemptMarkedStale,
    AttemptStarted,
    CheckpointRecorded,
    CommandFinished,
    CommandStarted,
    DevTaskCreated,
    Event,
    ModelCallRecorded,
    PatchApplied,
    PatchApplyFailed,
    PatchProposed,
    TaskApproved,
    TaskCancelled,
    TaskRejected,
    TaskRequeued,
    WorkRunEvent,
    WorkspaceApplyRecorded,
    WorkspaceSeeded,
)

__all__ = [
    "EVENT_TYPES",
    "ArtifactRecorded",
    "AttemptFinished",
    "AttemptMarkedStale",
    "AttemptStarted",
    "CheckpointRecorded",
    "CommandFinished",
    "CommandStarted",
    "DevTaskCreated",
    "ErrorCode",
    "Event",
    "ModelCallRecorded",
    "PatchApplied",
    "PatchApplyFailed",
    "PatchProposed",
    "Problem",
    "TaskApproved",
    "TaskCancelled",
    "TaskRejected",
    "TaskRequeued",
    "WorkRunEvent",
    "WorkspaceApplyRecorded",
    "WorkspaceSeeded",
]
