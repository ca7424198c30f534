"""HTTP bodies named in ARCHITECTURE.md. Field names are a public contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hive.contracts.events import AttemptOutcome, CommandState
from hive.contracts.manifest import WorkspaceManifest

DevTaskState = Literal[
    "queued",
    "running",
    "stale",
    "awaiting_review",
    "approved",
    "applied",
    "apply_failed",
    "rejected",
    "failed",
    "cancelled",
]
AttemptState = Literal["running", "finished", "stale"]


# --- sandbox: governed commands -------------------------------------------------


class CreateCommand(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """POST /commands. `env` is accepted by the decoder only so it can be refused."""

    argv: list[str]
    cwd: str | None = None
    task_id: str | None = None
    timeout_s: float | None = None
    env: Any = msgspec.UNSET


class StreamPreview(msgspec.Struct, kw_only=True):
    """A bounded view of one output stream: head and tail, never the whole log.

    `size_bytes` is what the command wrote to the stream; `omitted_bytes` what
    the preview does not show (`truncated` when that is more than zero; the log
    URL has the rest); `log_omitted_bytes` what was dropped past the sandbox's
    per-stream log cap and is therefore in no log at all.
    """

    preview: str
    size_bytes: int
    omitted_bytes: int
    truncated: bool
    log_omitted_bytes: int = 0


class Retrieval(msgspec.Struct, kw_only=True):
    """Where the full logs are (explicit retrieval only)."""

    stdout: str
    stderr: str


class CommandStatus(msgspec.Struct, kw_only=True):
    """One governed command (a process session)."""

    command_id: str
    task_id: str | None
    argv: list[str]
    cwd: str
    state: CommandState
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    stdout: StreamPreview
    stderr: StreamPreview
    retrieval: Retrieval
    reason: str | None = None


# --- sandbox: Work Runs ------------------------------------------------------------


class WorkspaceSpec(msgspec.Struct, kw_only=True):
    """Where a Work Run's repo comes from."""

    requested_path: str | None = None
    archive_b64: str | None = None


class CreateDevTask(msgspec.Struct, kw_only=True):
    """POST /dev-tasks."""

    project_id: str
    instructions: str
    backend: str | None = None
    target_paths: list[str] = []
    workspace: WorkspaceSpec = msgspec.field(default_factory=WorkspaceSpec)
    task_id: str | None = None


class AttemptView(msgspec.Struct, kw_only=True):
    """One runtime attempt of a logical task."""

    attempt_no: int
    attempt_id: str
    state: AttemptState
    started_at: datetime
    finished_at: datetime | None = None
    outcome: AttemptOutcome | None = None
    reason: str | None = None
    resumed_from_checkpoint: int | None = None


class CheckpointView(msgspec.Struct, kw_only=True):
    """The latest checkpoint of a task."""

    checkpoint_sequence_no: int
    durable: bool
    checkpoint_payload: dict[str, Any]
    attempt_no: int
    recorded_at: datetime


class ArtifactView(msgspec.Struct, kw_only=True):
    """A persisted artifact."""

    name: str
    size_bytes: int
    sha256: str
    attempt_no: int | None = None


class RuntimeInfo(msgspec.Struct, kw_only=True):
    """Where and how the current attempt runs; heartbeat from the lease row."""

    backend_run_id: str | None = None
    execution_class: str | None = None
    artifact_root: str | None = None
    log_root: str | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_s: float | None = None


class PatchSummary(msgspec.Struct, kw_only=True):
    """Diff stats of the proposed patch."""

    attempt_no: int
    files_changed: int
    insertions: int
    deletions: int
    size_bytes: int
    sha256: str
    paths: list[str] = []


class DevTaskStatus(msgspec.Struct, kw_only=True):
    """The projection of one Work Run stream."""

    task_id: str
    project_id: str
    state: DevTaskState
    backend: str
    instructions: str
    created_at: datetime
    updated_at: datetime
    stream_version: int
    attempts: list[AttemptView] = []
    current_attempt_no: int | None = None
    latest_checkpoint: CheckpointView | None = None
    artifacts: list[ArtifactView] = []
    runtime: RuntimeInfo | None = None
    workspace_manifest: WorkspaceManifest | None = None
    target_paths: list[str] = []
    patch: PatchSummary | None = None
    requeued_from: str | None = None
    requeued_to: str | None = None
    reason: str | None = None


class RecordCheckpoint(msgspec.Struct, kw_only=True):
    """POST /dev-tasks/{task_id}/checkpoints."""

    checkpoint_payload: dict[str, Any]
    durable: bool = True


class CheckpointAccepted(msgspec.Struct, kw_only=True):
    """Answer to a recorded checkpoint."""

    checkpoint_sequence_no: int
    attempt_no: int
    stream_version: int


class StoredEvent(msgspec.Struct, kw_only=True):
    """One event as the events API returns it."""

    stream_version: int
    global_position: int
    event_id: str
    event_type: str
    schema_version: int
    recorded_at: datetime
    payload: dict[str, Any]


class ReviewAction(msgspec.Struct, kw_only=True):
    """Body of approve / reject / resume / requeue / cancel (all optional)."""

    reason: str | None = None
    actor: str | None = None


# --- health -------------------------------------------------------------------------


class SandboxHealth(msgspec.Struct, kw_only=True):
    """GET /healthz of the sandbox."""

    status: Literal["ok", "degraded", "starting"]
    role: Literal["sandbox"] = "sandbox"
    db: str = "unknown"
    coding_backend: str | None = None
    codex: dict[str, Any] | None = None
    worker: str | None = None
    confinement: dict[str, Any] | None = None
    """What confines governed processes: Landlock ABI, filesystem, network, scopes,
    dies-with-supervisor, capabilities, `in_force`, and `missing` (what is not)."""
    backends: dict[str, Any] | None = None
    """Per coding backend: `usable`, `model_access` (`none`, `provider`, `gateway_relay`),
    and when unusable the `reason` and how to `enable` it."""


class GatewayHealth(msgspec.Struct, kw_only=True):
    """GET /healthz of the gateway."""

    status: Literal["ok", "degraded", "starting"]
    role: Literal["gateway"] = "gateway"
    mode: Literal["minimal", "full"]
    db: str = "unknown"
    agents: dict[str, Any] = {}


class AgentHealth(msgspec.Struct, kw_only=True):
    """GET /healthz of an agent runtime."""

    status: Literal["ok", "degraded", "starting"]
    role: Literal["agent"] = "agent"
    workspace: str
    runtime_ready: bool
    agent_id: str | None = None
    project_id: str | None = None
    controller_id: str | None = None
    deployment_backend: str | None = None
    readiness_reason: str | None = None


# --- gateway ------------------------------------------------------------------------


class LoginRequest(msgspec.Struct, kw_only=True):
    """POST /api/auth/login."""

    username: str
    password: str


class ProjectCreate(msgspec.Struct, kw_only=True):
    """POST /api/projects."""

    name: str
    workspace_path: str | None = None


class Project(msgspec.Struct, kw_only=True):
    """A project names its workspace."""

    project_id: str
    name: str
    workspace_path: str


class TaskTokenRequest(msgspec.Struct, kw_only=True):
    """POST /internal/task-tokens."""

    scopes: list[str]
    task_id: str | None = None
    agent_id: str | None = None
    ttl_s: int | None = None


class TaskTokenIssued(msgspec.Struct, kw_only=True):
    """A short-lived task token."""

    token: str
    expires_at: datetime
    scopes: list[str]
    jti: str | None = None


class WorkspaceApplyRequest(msgspec.Struct, kw_only=True):
    """POST /internal/workspace-apply: an approved patch the sandbox cannot apply itself.

    Sent by the sandbox only after approval; `patch_b64` is the unified diff
    (base64) against the seed and `patch_sha256` the hex digest of those bytes.
    """

    task_id: str
    project_id: str
    requested_path: str
    patch_sha256: str
    patch_b64: str
    baseline_commit: str | None = None


class WorkspaceApplyResult(msgspec.Struct, kw_only=True):
    """The gateway applied the patch (`already`: it was applied before, nothing changed)."""

    applied: bool
    already: bool
    task_id: str
    patch_sha256: str


class AgentRunRequest(msgspec.Struct, kw_only=True):
    """POST /run of an agent runtime."""

    input: str
    run_id: str | None = None


class AgentRunResult(msgspec.Struct, kw_only=True):
    """Answer of /run and /resume-run."""

    run_id: str
    status: Literal["completed", "awaiting_input", "failed"]
    output: str | None = None
