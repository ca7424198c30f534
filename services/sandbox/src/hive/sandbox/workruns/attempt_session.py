"""One claimed attempt's link to its Work Run: what the backend's AttemptContext calls do.

Every call a backend makes (checkpoint, artifact, heartbeat, governed command)
goes through the session of the attempt it runs. Once the replica has lost the
attempt's lease (`lost`), the session refuses them (LeaseLost) and writes
nothing more: a slow "zombie" must not record into an attempt that is no
longer current. `cancelled` is what the backend watches to stop early.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from hive.contracts.events import CommandFinished
from hive.sandbox.backends.base import AttemptContext, CommandEndState, CommandOutcome
from hive.sandbox.storage import TaskDirs
from hive.sandbox.workruns.errors import WorkRunError
from hive.sandbox.workruns.leases import Lease
from hive.sandbox.workruns.service import WorkRuns, now
from hive.sandbox.workruns.state import LatestCheckpoint, WorkRunState

log = logging.getLogger("hive.sandbox.worker")


class CommandRunner(Protocol):
    """Runs one governed command for an attempt (the commands service, adapted)."""

    async def run(
        self,
        *,
        task_id: str,
        attempt_no: int,
        argv: list[str],
        cwd: Path,
        timeout_s: float | None,
        cancelled: asyncio.Event | None = None,
    ) -> CommandOutcome:
        """Run to completion (cancel on `cancelled`); refusals come back as `failed_to_start`."""
        ...


class LeaseLost(WorkRunError):
    """This replica no longer holds the attempt (swept as stale, or superseded)."""


class AttemptSession:
    """The attempt `lease` names, run by `owner`: its context calls and its lease renewal."""

    def __init__(
        self,
        service: WorkRuns,
        lease: Lease,
        dirs: TaskDirs,
        *,
        owner: str,
        commands: CommandRunner | None,
    ) -> None:
        self.service = service
        self.task_id, self.attempt_no = lease.task_id, lease.attempt_no
        self.attempt_id = lease.attempt_id
        self.dirs = dirs
        self.owner = owner
        self.ttl_s = service.lease_ttl_s
        self.commands = commands
        self.cancelled = asyncio.Event()
        """Set when the task was cancelled or the lease was lost (the backend stops)."""
        self.lost = asyncio.Event()
        """Set when this replica no longer holds the lease (nothing more is reported)."""

    def context(self, state: WorkRunState, durable: LatestCheckpoint | None) -> AttemptContext:
        """The AttemptContext the backend runs with (`durable`: the checkpoint resumed from)."""
        current = state.current_attempt
        return AttemptContext(
            task_id=self.task_id,
            project_id=state.project_id,
            attempt_no=self.attempt_no,
            attempt_id=self.attempt_id,
            backend_run_id=(state.runtime.backend_run_id if state.runtime else "") or "",
            instructions=state.instructions,
            target_paths=list(state.target_paths),
            repo_dir=self.dirs.repo,
            scratch_dir=self.dirs.scratch,
            log_dir=self.dirs.logs,
            artifact_dir=self.dirs.artifacts,
            resumed_from_checkpoint=current.resumed_from_checkpoint if current else None,
            resume_checkpoint=dict(durable.checkpoint_payload) if durable is not None else None,
            checkpoint=self.checkpoint,
            artifact=self.artifact,
            heartbeat=self.heartbeat,
            run_command=self.run_command,
            command_started=self.command_started,
            command_finished=self.command_finished,
            cancelled=self.cancelled,
        )

    # -- the lease ------------------------------------------------------------------------

    def guard(self) -> None:
        """LeaseLost once the lease is gone: a zombie attempt records nothing."""
        if self.lost.is_set():
            raise LeaseLost(f"attempt {self.task_id}/{self.attempt_no} lost its lease")

    async def renew(self) -> bool:
        """Renew the lease; False (and `lost`, `cancelled` set) when it is gone."""
        lease = await self.service.leases.heartbeat(
            self.task_id, ttl_s=self.ttl_s, attempt_no=self.attempt_no, owner=self.owner
        )
        if lease is None:
            self.lost.set()
            self.cancelled.set()
            return False
        if lease.cancel_requested:
            self.cancelled.set()
        return True

    async def keep_alive(self) -> None:
        """Renew the lease every third of the TTL until it is lost (or this task is cancelled)."""
        interval = max(0.05, self.ttl_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.renew():
                    return
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("heartbeat of %s failed: %s", self.task_id, type(exc).__name__)

    # -- what the backend calls -----------------------------------------------------------

    async def heartbeat(self) -> None:
        """The backend's own heartbeat: renew now, LeaseLost when the lease is gone."""
        self.guard()
        if not await self.renew():
            raise LeaseLost(f"attempt {self.task_id}/{self.attempt_no} lost its lease")

    async def checkpoint(self, payload: Mapping[str, Any], *, durable: bool = True) -> int:
        """Record a checkpoint of this attempt; its sequence number."""
        self.guard()
        accepted = await self.service.record_checkpoint(
            self.task_id, payload, durable=durable, attempt_no=self.attempt_no
        )
        return accepted.checkpoint_sequence_no

    async def artifact(
        self, name: str, content: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store an artifact of this attempt (refused once it no longer runs)."""
        self.guard()
        await self.service.add_artifact(
            self.task_id,
            name,
            content,
            content_type=content_type,
            attempt_no=self.attempt_no,
            require_running=self.attempt_no,
        )

    async def command_started(self, argv: list[str], *, cwd: Path, pid: int | None) -> str:
        """Record a process the backend spawned itself; its command id."""
        self.guard()
        command_id = f"cmd-{uuid.uuid4().hex[:16]}"
        await self.service.record_command_started(
            self.task_id, self.attempt_no, command_id, list(argv), str(cwd), pid
        )
        return command_id

    async def command_finished(
        self,
        command_id: str,
        *,
        state: CommandEndState,
        exit_code: int | None,
        reason: str | None = None,
        stdout_bytes: int = 0,
        stderr_bytes: int = 0,
        duration_s: float | None = None,
    ) -> None:
        """Record the end of a process recorded with `command_started`."""
        await self.service.record_command_finished(
            self.task_id,
            CommandFinished(
                command_id=command_id,
                state=state,
                exit_code=exit_code,
                reason=reason,
                stdout_bytes=stdout_bytes,
                stderr_bytes=stderr_bytes,
                finished_at=now(),
                duration_s=duration_s,
            ),
        )

    async def run_command(
        self, argv: list[str], *, cwd: Path | None = None, timeout_s: float | None = None
    ) -> CommandOutcome:
        """Run a governed command for this attempt (stopped when `cancelled` is set)."""
        self.guard()
        if self.commands is None:
            return CommandOutcome(
                command_id="",
                state="failed_to_start",
                exit_code=None,
                reason="governed commands are not available in this sandbox",
            )
        return await self.commands.run(
            task_id=self.task_id,
            attempt_no=self.attempt_no,
            argv=list(argv),
            cwd=cwd or self.dirs.repo,
            timeout_s=timeout_s,
            cancelled=self.cancelled,
        )
