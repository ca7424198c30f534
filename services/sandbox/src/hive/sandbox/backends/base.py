"""The coding-backend seam: what a Work Run attempt hands a backend, and what it gets back.

A backend is one object with one method, `run(ctx) -> AttemptResult`, in the
spirit of httpx's transports: the worker owns leases, the event stream, the
patch and the review flow; the backend only edits `ctx.repo_dir` and reports
progress through the callbacks on `ctx`. Those callbacks append typed events
to the task's stream (checkpoints, artifacts, command records) or renew the
lease (heartbeat), so a backend never touches the database or the HTTP API.

Contract, in order of importance:

- Edit files only under `ctx.repo_dir`; use `ctx.scratch_dir` for temporary
  files, `ctx.log_dir` for raw logs. The worker computes the patch as
  `git diff` of `ctx.repo_dir` against the seed's baseline commit after `run`
  returns `succeeded`; an empty diff becomes outcome `no_changes`.
- A resumed attempt (`ctx.resumed_from_checkpoint is not None`) continues from
  `ctx.resume_checkpoint`, the payload of the latest *durable* checkpoint,
  in the same workspace the earlier attempt left behind.
- Call `await ctx.checkpoint(payload, durable=True)` after each unit of work a
  resume may skip; it returns the task-wide `checkpoint_sequence_no`.
- Call `await ctx.artifact(name, content)` to persist an artifact (its bytes
  live in PostgreSQL, so they survive the task dir).
- Long silent phases should `await ctx.heartbeat()`; the worker also renews
  the lease on its own while `run` is awaited, so a crashed process (not a
  slow backend) is what turns a task stale.
- Honour `ctx.cancelled` (set when the task is cancelled or the lease is
  lost): stop promptly and return outcome `cancelled`.
- Report failures by returning `AttemptResult(outcome="failed", reason=...)`;
  raise `BackendUnavailable` when the backend cannot run at all (say, the
  `codex` binary is missing). Any other exception also fails the attempt, with
  the exception's type as the reason (its message may hold secrets).
- A backend that can tell bad instructions before any attempt runs (the
  `deterministic_proof` plan) may define `check_instructions(instructions)`,
  raising ValueError with the reason: the create is then refused (422).
- Subprocesses: run argv-only governed commands with `await ctx.run_command(...)`
  (env scrubbed, logged, recorded as CommandStarted/CommandFinished). A backend
  that must spawn its own process (codex) scrubs the env with
  `hive.sandbox.environment.child_env` and records it with
  `ctx.command_started` / `ctx.command_finished`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

BackendOutcome = Literal["succeeded", "failed", "cancelled", "timed_out"]
CommandEndState = Literal["exited", "cancelled", "timed_out", "failed_to_start", "lost"]


class BackendUnavailable(Exception):
    """The backend cannot run here at all (missing binary, missing configuration)."""


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """How an attempt ended, as the backend sees it."""

    outcome: BackendOutcome
    reason: str | None = None
    """Short, secret-free explanation (shown in DevTaskStatus.reason)."""
    summary: str | None = None
    """Optional human summary of what was changed (not stored in events)."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """The end of a governed command run through `ctx.run_command`."""

    command_id: str
    state: CommandEndState
    exit_code: int | None
    stdout_tail: str = ""
    stderr_tail: str = ""
    reason: str | None = None


class CheckpointFn(Protocol):
    """`await ctx.checkpoint(payload, durable=True)` -> checkpoint_sequence_no."""

    def __call__(self, payload: Mapping[str, Any], *, durable: bool = True) -> Awaitable[int]: ...


class ArtifactFn(Protocol):
    """`await ctx.artifact(name, content, content_type=...)` persists bytes."""

    def __call__(
        self, name: str, content: bytes, *, content_type: str = "application/octet-stream"
    ) -> Awaitable[None]: ...


class RunCommandFn(Protocol):
    """`await ctx.run_command(argv, cwd=None, timeout_s=None)` runs a governed command."""

    def __call__(
        self, argv: list[str], *, cwd: Path | None = None, timeout_s: float | None = None
    ) -> Awaitable[CommandOutcome]: ...


class CommandStartedFn(Protocol):
    """Record a process the backend spawned itself; returns its command_id."""

    def __call__(self, argv: list[str], *, cwd: Path, pid: int | None) -> Awaitable[str]: ...


class CommandFinishedFn(Protocol):
    """Record the end of a process recorded with `command_started`."""

    def __call__(
        self,
        command_id: str,
        *,
        state: CommandEndState,
        exit_code: int | None,
        reason: str | None = None,
        stdout_bytes: int = 0,
        stderr_bytes: int = 0,
        duration_s: float | None = None,
    ) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """Everything one attempt may know and do. Built by the worker per attempt."""

    task_id: str
    project_id: str
    attempt_no: int
    attempt_id: str
    backend_run_id: str
    instructions: str
    target_paths: list[str]
    repo_dir: Path
    """The task's git working tree (seeded, baseline committed)."""
    scratch_dir: Path
    log_dir: Path
    artifact_dir: Path
    resumed_from_checkpoint: int | None
    """checkpoint_sequence_no this attempt resumes from (None on a fresh start)."""
    resume_checkpoint: Mapping[str, Any] | None
    """Payload of the latest durable checkpoint (None on a fresh start)."""
    checkpoint: CheckpointFn
    artifact: ArtifactFn
    heartbeat: Callable[[], Awaitable[None]]
    run_command: RunCommandFn
    command_started: CommandStartedFn
    command_finished: CommandFinishedFn
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the task was cancelled or this replica lost the lease."""


@runtime_checkable
class CodingBackend(Protocol):
    """One coding backend (`deterministic_proof`, `codex_cli`, `relay_helper`)."""

    name: str
    """The value of HIVE_SANDBOX_CODING_BACKEND / the task's `backend`."""
    execution_class: str
    """Shown in DevTaskStatus.runtime, e.g. `in_process`, `governed_subprocess`."""

    async def run(self, ctx: AttemptContext) -> AttemptResult:
        """Do the attempt's work in ctx.repo_dir; see the module docstring."""
        ...
