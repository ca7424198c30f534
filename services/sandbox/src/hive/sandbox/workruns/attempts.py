"""Facts a running attempt reports, and the end of an attempt."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import asyncpg

from hive.contracts.api import CheckpointAccepted, DevTaskStatus
from hive.contracts.events import (
    ArtifactRecorded,
    AttemptFinished,
    AttemptOutcome,
    CheckpointRecorded,
    CommandFinished,
    CommandStarted,
    Event,
    PatchProposed,
)
from hive.sandbox.workruns.blobs import StoredArtifact
from hive.sandbox.workruns.decide import WorkRunBase, now, write_artifact_manifest
from hive.sandbox.workruns.errors import InvalidRequest, StateConflict
from hive.sandbox.workruns.git_repo import Patch
from hive.sandbox.workruns.leases import Lease
from hive.sandbox.workruns.state import WorkRunState

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024


class Attempts(WorkRunBase):
    """Checkpoints, artifacts, command records and heartbeats of the running attempt."""

    async def record_checkpoint(
        self,
        task_id: str,
        payload: Mapping[str, Any],
        *,
        durable: bool = True,
        attempt_no: int | None = None,
    ) -> CheckpointAccepted:
        """Append the next CheckpointRecorded of the running attempt."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            current = state.current_attempt
            if state.state != "running" or current is None or current.state != "running":
                raise StateConflict(
                    f"checkpoints need a running attempt; task {task_id} is {state.state}",
                    state=state.state,
                )
            if attempt_no is not None and current.attempt_no != attempt_no:
                raise StateConflict(
                    f"attempt {attempt_no} is not the running attempt", state=state.state
                )
            return [
                CheckpointRecorded(
                    checkpoint_sequence_no=state.last_sequence_no + 1,
                    attempt_no=current.attempt_no,
                    durable=durable,
                    checkpoint_payload=dict(payload),
                    recorded_at=now(),
                )
            ]

        decided = await self._decide(task_id, decide)
        cp = decided.state.latest_checkpoint
        assert cp is not None
        return CheckpointAccepted(
            checkpoint_sequence_no=cp.checkpoint_sequence_no,
            attempt_no=cp.attempt_no,
            stream_version=decided.last_version,
        )

    async def add_artifact(
        self,
        task_id: str,
        name: str,
        content: bytes,
        *,
        content_type: str = "application/octet-stream",
        attempt_no: int | None = None,
        require_running: int | None = None,
    ) -> DevTaskStatus:
        """Persist an artifact's bytes and record it on the stream."""
        if not ARTIFACT_NAME.match(name) or ".." in name:
            raise InvalidRequest(
                "artifact name must be 1-128 characters of letters, digits, '_', '-', '.'"
            )
        if len(content) > MAX_ARTIFACT_BYTES:
            raise InvalidRequest(f"artifact larger than {MAX_ARTIFACT_BYTES} bytes")
        digest = hashlib.sha256(content).hexdigest()

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            if state.state in ("applied", "rejected"):
                raise StateConflict(f"task {task_id} is {state.state}", state=state.state)
            current = state.current_attempt
            if require_running is not None and (
                state.state != "running"
                or current is None
                or current.attempt_no != require_running
                or current.state != "running"
            ):
                raise StateConflict(
                    f"attempt {require_running} is no longer running", state=state.state
                )
            no = attempt_no if attempt_no is not None else (current.attempt_no if current else None)
            await self.blobs.put_artifact(
                conn,
                task_id,
                StoredArtifact(name, no, len(content), digest, content_type, content),
            )
            return [
                ArtifactRecorded(
                    name=name,
                    size_bytes=len(content),
                    sha256=digest,
                    attempt_no=no,
                    content_type=content_type,
                    recorded_at=now(),
                )
            ]

        decided = await self._decide(task_id, decide)
        dirs = self.storage.task_dirs(task_id, create=False)
        if dirs.artifacts.is_dir():
            (dirs.artifacts / name).write_bytes(content)
            write_artifact_manifest(dirs, decided.state)
        return await self.status_of(decided.state)

    async def record_command_started(
        self,
        task_id: str,
        attempt_no: int,
        command_id: str,
        argv: list[str],
        cwd: str,
        pid: int | None,
    ) -> None:
        """A process an attempt spawned itself."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            return [
                CommandStarted(
                    command_id=command_id,
                    task_id=task_id,
                    attempt_no=attempt_no,
                    argv=list(argv),
                    cwd=cwd,
                    pid=pid,
                    started_at=now(),
                )
            ]

        await self._decide(task_id, decide)

    async def record_command_finished(self, task_id: str, event: CommandFinished) -> None:
        """The end of a process recorded with record_command_started."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            return [event]

        await self._decide(task_id, decide)

    async def heartbeat(self, task_id: str, *, attempt_no: int | None = None) -> Lease:
        """Renew the lease of the task's running attempt (POST .../heartbeat)."""
        lease = await self.leases.heartbeat(task_id, ttl_s=self.lease_ttl_s, attempt_no=attempt_no)
        if lease is None:
            await self.load(task_id)  # 404 when the task does not exist
            raise StateConflict(f"task {task_id} has no leased attempt to heartbeat")
        return lease

    # -- the worker's transitions -----------------------------------------------------------

    async def finish_attempt(
        self,
        task_id: str,
        attempt_no: int,
        outcome: AttemptOutcome,
        reason: str | None,
        *,
        patch: Patch | None = None,
    ) -> WorkRunState | None:
        """End an attempt (with its patch on success) and release its lease.

        Returns None when the attempt is no longer current (it was marked stale
        meanwhile): a replica that lost its lease must not report anything.
        """

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            current = state.current_attempt
            if current is None or current.attempt_no != attempt_no or current.state != "running":
                raise _Superseded()
            await self.leases.set_state(conn, task_id, attempt_no, "released")

            def finished(result: AttemptOutcome, why: str | None) -> AttemptFinished:
                return AttemptFinished(
                    attempt_no=attempt_no,
                    attempt_id=current.attempt_id,
                    outcome=result,
                    reason=why,
                    finished_at=now(),
                )

            if state.state == "cancelled":
                return [finished("cancelled", state.reason)]
            if outcome == "succeeded" and patch is not None:
                await self.blobs.put_patch(conn, task_id, attempt_no, patch.sha256, patch.diff)
                return [
                    PatchProposed(
                        attempt_no=attempt_no,
                        files_changed=patch.files_changed,
                        insertions=patch.insertions,
                        deletions=patch.deletions,
                        size_bytes=len(patch.diff),
                        sha256=patch.sha256,
                        paths=patch.paths,
                        proposed_at=now(),
                    ),
                    finished("succeeded", reason),
                ]
            if outcome == "succeeded":
                return [finished("no_changes", reason or "the attempt changed nothing")]
            return [finished(outcome, reason)]

        try:
            return (await self._decide(task_id, decide)).state
        except _Superseded:
            return None


class _Superseded(Exception):
    """The attempt being finished is no longer the task's running attempt."""
