"""The WorkRun: a Work Run stream's state machine and its fold into DevTaskStatus.

`WorkRunState.apply` is the single place that decides which event is legal in
which state; the sandbox checks a command against it before appending, and the
projection folds stored events with it. A stored stream is always legal, so
folding never raises for events this store accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from hive.contracts.api import (
    ArtifactView,
    AttemptView,
    CheckpointView,
    DevTaskState,
    DevTaskStatus,
    PatchSummary,
    RuntimeInfo,
)
from hive.contracts.events import (
    ArtifactRecorded,
    AttemptFinished,
    AttemptMarkedStale,
    AttemptStarted,
    CheckpointRecorded,
    CommandFinished,
    CommandStarted,
    DevTaskCreated,
    ModelCallRecorded,
    PatchApplied,
    PatchApplyFailed,
    PatchProposed,
    TaskApproved,
    TaskCancelled,
    TaskRejected,
    TaskRequeued,
    WorkRunEvent,
    WorkspaceSeeded,
)
from hive.contracts.manifest import WorkspaceManifest
from hive.events import InvalidTransition

PROJECTION_NAME: Final = "work_runs"
# Bump when WorkRunState's shape or fold changes: snapshots of older versions are ignored.
PROJECTION_VERSION: Final = 1
STREAM_PREFIX: Final = "workrun-"

RESUMABLE: Final = frozenset({"stale", "failed"})
REQUEUEABLE: Final = frozenset({"stale", "failed", "cancelled", "rejected", "apply_failed"})
CANCELLABLE: Final = frozenset({"queued", "running", "stale", "failed", "awaiting_review"})
TERMINAL: Final = frozenset({"applied", "rejected", "cancelled"})


def stream_id(task_id: str) -> str:
    """The stream of a task."""
    return STREAM_PREFIX + task_id


class LatestCheckpoint(msgspec.Struct, kw_only=True):
    """The last checkpoint seen, and the last durable one (what resume uses)."""

    checkpoint_sequence_no: int
    durable: bool
    checkpoint_payload: dict[str, object]
    attempt_no: int
    recorded_at: datetime


class WorkRunState(msgspec.Struct, kw_only=True):
    """Mutable fold state; encoded as the snapshot and the read-model row."""

    task_id: str = ""
    project_id: str = ""
    state: DevTaskState | None = None
    backend: str = ""
    instructions: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stream_version: int = 0
    target_paths: list[str] = []
    requested_path: str | None = None
    seeded: bool = False
    baseline_commit: str | None = None
    attempts: list[AttemptView] = []
    runtime: RuntimeInfo | None = None
    last_sequence_no: int = 0
    latest_checkpoint: LatestCheckpoint | None = None
    latest_durable: LatestCheckpoint | None = None
    artifacts: dict[str, ArtifactView] = {}
    manifest: WorkspaceManifest | None = None
    patch: PatchSummary | None = None
    requeued_from: str | None = None
    requeued_to: str | None = None
    reason: str | None = None
    running_commands: list[str] = []

    # -- queries -----------------------------------------------------------------------

    @property
    def current_attempt(self) -> AttemptView | None:
        """The newest attempt, if any."""
        return self.attempts[-1] if self.attempts else None

    def next_attempt_no(self) -> int:
        """The number a new attempt would get."""
        return len(self.attempts) + 1

    # -- the state machine ---------------------------------------------------------------

    def _refuse(self, event: WorkRunEvent, detail: str | None = None) -> InvalidTransition:
        return InvalidTransition(str(self.state), type(event).__name__, detail)

    def _require(self, event: WorkRunEvent, *states: str) -> None:
        if self.state not in states:
            raise self._refuse(event)

    def _require_current(self, event: WorkRunEvent, attempt_no: int) -> AttemptView:
        current = self.current_attempt
        if current is None or current.attempt_no != attempt_no:
            raise self._refuse(event, f"attempt {attempt_no} is not the current attempt")
        return current

    def apply(self, event: WorkRunEvent, version: int, at: datetime) -> None:
        """Fold one event in place, or raise InvalidTransition leaving state unchanged."""
        if self.state is None and not isinstance(event, DevTaskCreated):
            raise self._refuse(event, "the stream must start with DevTaskCreated")
        match event:
            case DevTaskCreated():
                if self.state is not None:
                    raise self._refuse(event)
                self.task_id = event.task_id
                self.project_id = event.project_id
                self.backend = event.backend
                self.instructions = event.instructions
                self.target_paths = list(event.target_paths)
                self.requested_path = event.requested_path
                self.requeued_from = event.requeued_from
                self.created_at = event.created_at
                self.state = "queued"
            case WorkspaceSeeded():
                self._require(event, "queued")
                if self.seeded:
                    raise self._refuse(event, "already seeded")
                self.seeded = True
                self.baseline_commit = event.baseline_commit
                self.manifest = event.manifest
            case AttemptStarted():
                if self.state == "queued" or (self.state in RESUMABLE and self.requeued_to is None):
                    pass
                else:
                    raise self._refuse(event)
                if event.attempt_no != self.next_attempt_no():
                    raise self._refuse(event, f"expected attempt {self.next_attempt_no()}")
                self.attempts.append(
                    AttemptView(
                        attempt_no=event.attempt_no,
                        attempt_id=event.attempt_id,
                        state="running",
                        started_at=event.started_at,
                        resumed_from_checkpoint=event.resumed_from_checkpoint,
                    )
                )
                self.runtime = RuntimeInfo(
                    backend_run_id=event.backend_run_id,
                    execution_class=event.execution_class,
                    artifact_root=event.artifact_root,
                    log_root=event.log_root,
                )
                self.state = "running"
                self.reason = None
            case AttemptFinished():
                self._require(event, "running", "cancelled")
                current = self._require_current(event, event.attempt_no)
                if current.state != "running":
                    raise self._refuse(event, "attempt already ended")
                if (
                    self.state == "running"
                    and event.outcome == "succeeded"
                    and (self.patch is None or self.patch.attempt_no != event.attempt_no)
                ):
                    raise self._refuse(event, "succeeded without a PatchProposed")
                current.state = "finished"
                current.outcome = event.outcome
                current.finished_at = event.finished_at
                current.reason = event.reason
                if self.state == "running":
                    if event.outcome == "succeeded":
                        self.state = "awaiting_review"
                    elif event.outcome == "cancelled":
                        self.state = "cancelled"
                    else:
                        self.state = "failed"
                    self.reason = event.reason
            case AttemptMarkedStale():
                self._require(event, "running")
                current = self._require_current(event, event.attempt_no)
                current.state = "stale"
                current.reason = event.reason
                self.state = "stale"
                self.reason = event.reason
            case CheckpointRecorded():
                self._require(event, "running")
                self._require_current(event, event.attempt_no)
                if event.checkpoint_sequence_no != self.last_sequence_no + 1:
                    raise self._refuse(
                        event, f"checkpoint_sequence_no must be {self.last_sequence_no + 1}"
                    )
                self.last_sequence_no = event.checkpoint_sequence_no
                cp = LatestCheckpoint(
                    checkpoint_sequence_no=event.checkpoint_sequence_no,
                    durable=event.durable,
                    checkpoint_payload=event.checkpoint_payload,
                    attempt_no=event.attempt_no,
                    recorded_at=event.recorded_at,
                )
                self.latest_checkpoint = cp
                if event.durable:
                    self.latest_durable = cp
            case ArtifactRecorded():
                self.artifacts[event.name] = ArtifactView(
                    name=event.name,
                    size_bytes=event.size_bytes,
                    sha256=event.sha256,
                    attempt_no=event.attempt_no,
                )
            case CommandStarted():
                self.running_commands.append(event.command_id)
            case CommandFinished():
                if event.command_id in self.running_commands:
                    self.running_commands.remove(event.command_id)
            case PatchProposed():
                self._require(event, "running")
                self._require_current(event, event.attempt_no)
                self.patch = PatchSummary(
                    attempt_no=event.attempt_no,
                    files_changed=event.files_changed,
                    insertions=event.insertions,
                    deletions=event.deletions,
                    size_bytes=event.size_bytes,
                    sha256=event.sha256,
                    paths=list(event.paths),
                )
            case TaskApproved():
                self._require(event, "awaiting_review")
                self.state = "approved"
            case PatchApplied():
                self._require(event, "approved")
                self.state = "applied"
                self.reason = None
            case PatchApplyFailed():
                self._require(event, "approved")
                self.state = "apply_failed"
                self.reason = event.reason
            case TaskRejected():
                self._require(event, "awaiting_review")
                self.state = "rejected"
                self.reason = event.reason
            case TaskRequeued():
                if self.state not in REQUEUEABLE or self.requeued_to is not None:
                    raise self._refuse(event)
                self.requeued_to = event.new_task_id
            case TaskCancelled():
                if self.state not in CANCELLABLE and self.state != "apply_failed":
                    raise self._refuse(event)
                self.state = "cancelled"
                self.reason = event.reason
            case ModelCallRecorded():
                # Relay accounting lives on relaycalls-* streams; tolerated, never folded.
                pass
            case _:  # pragma: no cover - the union is closed
                raise self._refuse(event, "unknown event")
        self.stream_version = version
        self.updated_at = at

    # -- the public view -------------------------------------------------------------------

    def to_status(self) -> DevTaskStatus:
        """DevTaskStatus (without lease heartbeat; the sandbox adds it)."""
        assert self.state is not None and self.created_at is not None
        cp = self.latest_checkpoint
        return DevTaskStatus(
            task_id=self.task_id,
            project_id=self.project_id,
            state=self.state,
            backend=self.backend,
            instructions=self.instructions,
            created_at=self.created_at,
            updated_at=self.updated_at or self.created_at,
            stream_version=self.stream_version,
            attempts=list(self.attempts),
            current_attempt_no=self.attempts[-1].attempt_no if self.attempts else None,
            latest_checkpoint=None
            if cp is None
            else CheckpointView(
                checkpoint_sequence_no=cp.checkpoint_sequence_no,
                durable=cp.durable,
                checkpoint_payload=cp.checkpoint_payload,
                attempt_no=cp.attempt_no,
                recorded_at=cp.recorded_at,
            ),
            artifacts=list(self.artifacts.values()),
            runtime=self.runtime,
            workspace_manifest=self.manifest,
            target_paths=list(self.target_paths),
            patch=self.patch,
            requeued_from=self.requeued_from,
            requeued_to=self.requeued_to,
            reason=self.reason,
        )


_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(WorkRunState)


def encode_state(state: WorkRunState) -> bytes:
    """Compact bytes of a fold state (snapshots and read-model rows)."""
    return _state_encoder.encode(state)


def decode_state(data: bytes) -> WorkRunState:
    """The inverse of encode_state."""
    return _state_decoder.decode(data)
