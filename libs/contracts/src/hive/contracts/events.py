"""Work Run events: one tagged union, one decoder, upcasters for old schema versions.

Every event is a frozen msgspec Struct tagged by its class name in the `type`
field; that tag is also the `event_type` column of the event store. Each class
carries the `SCHEMA_VERSION` it is written with; stored events of an older
version pass through the upcasters registered here before decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal

import msgspec

from hive.contracts.manifest import WorkspaceManifest

AttemptOutcome = Literal["succeeded", "failed", "no_changes", "cancelled", "timed_out", "lost"]
CommandState = Literal["running", "exited", "cancelled", "timed_out", "failed_to_start", "lost"]
SeedSource = Literal["requested_path", "archive", "empty"]
ApplyMode = Literal["direct", "relay"]


class Event(msgspec.Struct, tag_field="type", tag=True, frozen=True, kw_only=True):
    """Base of every stored event."""

    SCHEMA_VERSION: ClassVar[int] = 1


class DevTaskCreated(Event, kw_only=True, frozen=True):
    """A Work Run (sandbox dev task) was requested."""

    task_id: str
    project_id: str
    instructions: str
    backend: str
    target_paths: list[str] = []
    requested_path: str | None = None
    has_archive: bool = False
    requeued_from: str | None = None
    created_at: datetime


class WorkspaceSeeded(Event, kw_only=True, frozen=True):
    """The task's repo was populated and a baseline commit taken."""

    source: SeedSource
    repo_path: str
    baseline_commit: str | None = None
    file_count: int = 0
    size_bytes: int = 0
    manifest: WorkspaceManifest
    seeded_at: datetime


class AttemptStarted(Event, kw_only=True, frozen=True):
    """A runtime attempt of the task began (attempt 1, or a resume in place)."""

    attempt_no: int
    attempt_id: str
    backend: str
    backend_run_id: str
    execution_class: str
    artifact_root: str
    log_root: str
    resumed_from_checkpoint: int | None = None
    started_at: datetime


class AttemptFinished(Event, kw_only=True, frozen=True):
    """An attempt ended; the outcome decides the task's next state."""

    attempt_no: int
    attempt_id: str
    outcome: AttemptOutcome
    reason: str | None = None
    finished_at: datetime


class AttemptMarkedStale(Event, kw_only=True, frozen=True):
    """An attempt's lease expired without a heartbeat: its runner is gone."""

    attempt_no: int
    attempt_id: str
    reason: str
    lease_expired_at: datetime
    marked_at: datetime


class CheckpointRecorded(Event, kw_only=True, frozen=True):
    """A progress checkpoint; durable ones are what a resume continues from."""

    checkpoint_sequence_no: int
    attempt_no: int
    durable: bool
    checkpoint_payload: dict[str, Any]
    recorded_at: datetime


class ArtifactRecorded(Event, kw_only=True, frozen=True):
    """An artifact was persisted (content lives in the artifact store, not here)."""

    name: str
    size_bytes: int
    sha256: str
    attempt_no: int | None = None
    content_type: str = "application/octet-stream"
    recorded_at: datetime


class CommandStarted(Event, kw_only=True, frozen=True):
    """A governed command was spawned."""

    command_id: str
    task_id: str | None = None
    attempt_no: int | None = None
    argv: list[str]
    cwd: str
    pid: int | None = None
    started_at: datetime


class CommandFinished(Event, kw_only=True, frozen=True):
    """A governed command reached a final state."""

    command_id: str
    state: CommandState
    exit_code: int | None = None
    reason: str | None = None
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    finished_at: datetime
    duration_s: float | None = None


class PatchProposed(Event, kw_only=True, frozen=True):
    """The attempt produced a diff against the seed; it awaits review."""

    attempt_no: int
    files_changed: int
    insertions: int
    deletions: int
    size_bytes: int
    sha256: str
    paths: list[str] = []
    proposed_at: datetime


class TaskApproved(Event, kw_only=True, frozen=True):
    """An operator approved the proposed patch."""

    approved_by: str | None = None
    approved_at: datetime


class PatchApplied(Event, kw_only=True, frozen=True):
    """The approved patch landed on the requested workspace (or its relay)."""

    mode: ApplyMode
    target: str | None = None
    applied_at: datetime


class PatchApplyFailed(Event, kw_only=True, frozen=True):
    """Apply-back failed; the target was left untouched."""

    mode: ApplyMode
    target: str | None = None
    reason: str
    failed_at: datetime


class TaskRejected(Event, kw_only=True, frozen=True):
    """An operator rejected the proposed patch."""

    rejected_by: str | None = None
    reason: str | None = None
    rejected_at: datetime


class TaskRequeued(Event, kw_only=True, frozen=True):
    """This task was forked into a new logical task (`new_task_id`)."""

    new_task_id: str
    reason: str | None = None
    requeued_at: datetime


class TaskCancelled(Event, kw_only=True, frozen=True):
    """The task was cancelled; any running attempt is stopped."""

    reason: str | None = None
    cancelled_by: str | None = None
    cancelled_at: datetime


class ModelCallRecorded(Event, kw_only=True, frozen=True):
    """One call through the gateway's model relay (never on a workrun stream).

    Recorded on `relaycalls-task-<task_id>` or `relaycalls-agent-<agent_id>`;
    token counts are None when the upstream did not report them.
    """

    jti: str
    task_id: str | None = None
    agent_id: str | None = None
    provider_id: str
    model: str
    endpoint: str
    stream: bool = False
    status_code: int
    outcome: Literal["ok", "upstream_error", "unreachable", "client_disconnected"]
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: float
    first_byte_ms: float | None = None
    recorded_at: datetime


class WorkspaceApplyRecorded(Event, kw_only=True, frozen=True):
    """The gateway's receipt of one apply-back request (never on a workrun stream).

    Recorded on `workspaceapply-<task_id>`: what was asked, where it landed and
    how it ended; never the patch itself (its digest and size only).
    """

    task_id: str
    project_id: str
    requested_path: str
    target: str | None = None
    baseline_commit: str | None = None
    patch_sha256: str
    size_bytes: int
    outcome: Literal["applied", "already_applied", "conflict", "refused"]
    reason: str | None = None
    recorded_at: datetime


# --- agent runs (`agentrun-<run_id>`) -------------------------------------------------

AgentRunStatus = Literal["running", "awaiting_input", "completed", "failed", "cancelled"]


class AgentRunStarted(Event, kw_only=True, frozen=True):
    """An agent run began with the operator's (or a schedule's) input."""

    run_id: str
    agent_id: str
    project_id: str
    input: str
    model: str
    system_prompt: str | None = None
    budget: dict[str, float] = {}
    schedule_id: str | None = None
    started_at: datetime


class AgentModelCalled(Event, kw_only=True, frozen=True):
    """One model round trip of a run, recorded with its answer (never repeated on resume)."""

    step: int
    message: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    recorded_at: datetime


class AgentToolRequested(Event, kw_only=True, frozen=True):
    """The model asked for a tool; `idempotency_key` is derived from (run, step)."""

    step: int
    call_id: str
    tool: str
    arguments: dict[str, Any]
    idempotency_key: str
    recorded_at: datetime


class AgentToolFinished(Event, kw_only=True, frozen=True):
    """A tool call's result, as handed back to the model."""

    call_id: str
    ok: bool
    result: dict[str, Any]
    recorded_at: datetime


class AgentApprovalRequested(Event, kw_only=True, frozen=True):
    """The run stops in awaiting_input until an operator decides (`reason`: approval|budget)."""

    request_id: str
    reason: Literal["approval", "budget"]
    call_id: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    why: str
    recorded_at: datetime


class AgentApprovalDecided(Event, kw_only=True, frozen=True):
    """An operator approved or declined a request; a budget grant adds to the limits."""

    request_id: str
    approved: bool
    decided_by: str | None = None
    grant: dict[str, float] = {}
    comment: str | None = None
    recorded_at: datetime


class AgentRunResumed(Event, kw_only=True, frozen=True):
    """A run continued (operator input, a restarted runtime, or after a decision)."""

    input: str | None = None
    recorded_at: datetime


class AgentMemoryNoted(Event, kw_only=True, frozen=True):
    """`remember(note)`: a note for the agent's memory (flushed to its workspace)."""

    call_id: str
    note: str
    recorded_at: datetime


class AgentRunFinished(Event, kw_only=True, frozen=True):
    """The run ended."""

    status: Literal["completed", "failed", "cancelled"]
    output: str | None = None
    error: str | None = None
    recorded_at: datetime


AGENT_RUN_EVENTS: tuple[type[Event], ...] = (
    AgentRunStarted,
    AgentModelCalled,
    AgentToolRequested,
    AgentToolFinished,
    AgentApprovalRequested,
    AgentApprovalDecided,
    AgentRunResumed,
    AgentMemoryNoted,
    AgentRunFinished,
)


WorkRunEvent = (
    DevTaskCreated
    | WorkspaceSeeded
    | AttemptStarted
    | AttemptFinished
    | AttemptMarkedStale
    | CheckpointRecorded
    | ArtifactRecorded
    | CommandStarted
    | CommandFinished
    | PatchProposed
    | TaskApproved
    | PatchApplied
    | PatchApplyFailed
    | TaskRejected
    | TaskRequeued
    | TaskCancelled
    | ModelCallRecorded
    | WorkspaceApplyRecorded
    | AgentRunStarted
    | AgentModelCalled
    | AgentToolRequested
    | AgentToolFinished
    | AgentApprovalRequested
    | AgentApprovalDecided
    | AgentRunResumed
    | AgentMemoryNoted
    | AgentRunFinished
)

_EVENT_CLASSES: tuple[type[Event], ...] = (
    DevTaskCreated,
    WorkspaceSeeded,
    AttemptStarted,
    AttemptFinished,
    AttemptMarkedStale,
    CheckpointRecorded,
    ArtifactRecorded,
    CommandStarted,
    CommandFinished,
    PatchProposed,
    TaskApproved,
    PatchApplied,
    PatchApplyFailed,
    TaskRejected,
    TaskRequeued,
    TaskCancelled,
    ModelCallRecorded,
    WorkspaceApplyRecorded,
    *AGENT_RUN_EVENTS,
)
EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in _EVENT_CLASSES}

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# (event_type, from_schema_version) -> function returning the payload at from+1.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventType(ValueError):
    """A stored event type this code does not know: decoding is strict about it."""


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a payload migration from `from_version` to `from_version + 1`."""

    def wrap(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return wrap


_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[WorkRunEvent] = msgspec.json.Decoder(WorkRunEvent)


def encode_event(event: Event) -> bytes:
    """JSON bytes of an event, tag included."""
    return _encoder.encode(event)


def decode_event(event_type: str, schema_version: int, payload: bytes | str) -> WorkRunEvent:
    """Decode a stored payload, upcasting it first when its schema is older."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    if schema_version == cls.SCHEMA_VERSION:
        return _decoder.decode(payload)
    data: dict[str, Any] = msgspec.json.decode(payload)
    version = schema_version
    while version < cls.SCHEMA_VERSION:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"{event_type} v{version}: no upcaster to v{version + 1}")
        data = step(data)
        version += 1
    data["type"] = event_type
    return msgspec.convert(data, WorkRunEvent)  # type: ignore[no-any-return]
