"""Work Run intake: create a task (seed its workspace, start its stream) and requeue one."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from hive.contracts.api import CreateDevTask, DevTaskStatus
from hive.contracts.events import (
    AttemptStarted,
    DevTaskCreated,
    Event,
    TaskRequeued,
    WorkspaceSeeded,
)
from hive.contracts.manifest import WorkspaceManifest
from hive.events import InvalidTransition, VersionConflict
from hive.sandbox.backends import KNOWN_BACKENDS
from hive.sandbox.storage import InvalidId, TaskDirs, check_id
from hive.sandbox.workruns import archive, git_repo
from hive.sandbox.workruns.apply_back import public_url, visible_dir
from hive.sandbox.workruns.decide import (
    MAX_RETRIES,
    WorkRunBase,
    new_task_id,
    now,
    write_artifact_manifest,
)
from hive.sandbox.workruns.errors import DuplicateTask, InvalidRequest, StateConflict
from hive.sandbox.workruns.seed import Seeded, seed_repo
from hive.sandbox.workruns.state import WorkRunState, stream_id


class Intake(WorkRunBase):
    """POST /dev-tasks and .../requeue: new streams, each seeded and with attempt 1 queued."""

    def _manifest(
        self,
        task_id: str,
        dirs: TaskDirs,
        source: str,
        target_paths: list[str],
        requested_path: str | None,
        has_archive: bool,
    ) -> WorkspaceManifest:
        return WorkspaceManifest(
            task_id=task_id,
            repo_path_class={
                "requested_path": "requested_path_copy",
                "archive": "archive_seed",
                "empty": "empty",
            }[source],  # type: ignore[arg-type]
            repo_path=str(dirs.repo),
            artifact_manifest_path=str(dirs.artifacts / "manifest.json"),
            target_paths=list(target_paths),
            requested_path=requested_path,
            requested_path_present=visible_dir(requested_path),
            source_archive_present=has_archive,
            apply_back_mode=self.apply_back.mode_for(requested_path),  # type: ignore[arg-type]
            apply_relay_url=self.apply_back.relay_url and public_url(self.apply_back.relay_url),
            apply_relay_token_configured=self.apply_back.relay_token_configured,
        )

    def _claim_task_dir(self, task_id: str) -> TaskDirs:
        try:
            root = self.storage.task_path(task_id)
        except InvalidId as exc:
            raise InvalidRequest(str(exc)) from exc
        self.storage.ensure()
        try:
            root.mkdir(mode=0o700)  # exclusive: two creates of one id cannot share a dir
        except FileExistsError as exc:
            raise DuplicateTask(f"task {task_id!r} already exists") from exc
        return self.storage.task_dirs(task_id)

    async def _seed(
        self, dirs: TaskDirs, *, requested_path: Path | None, archive_bytes: bytes | None
    ) -> Seeded:
        try:
            return await seed_repo(
                dirs.repo,
                requested_path=requested_path,
                archive_bytes=archive_bytes,
                limits=self.limits,
                trusted=dirs.git_trusted,
                git_timeout_s=self.git_timeout_s,
            )
        except git_repo.GitError as exc:
            # A workspace git cannot read in time (or at all) is refused, not a 500.
            raise InvalidRequest(
                f"could not seed the workspace: {exc.stderr.strip()[:300]}"
            ) from exc

    async def create(self, req: CreateDevTask) -> DevTaskStatus:
        """POST /dev-tasks: seed the workspace, start the stream, queue attempt 1."""
        task_id = req.task_id or new_task_id()
        try:
            check_id("task_id", task_id)
        except InvalidId as exc:
            raise InvalidRequest(str(exc)) from exc
        backend = req.backend or self.default_backend
        if backend not in KNOWN_BACKENDS:
            raise InvalidRequest(f"unknown backend {backend!r}; known: {', '.join(KNOWN_BACKENDS)}")
        if not req.project_id.strip():
            raise InvalidRequest("project_id must not be empty")
        for p in req.target_paths:
            parts = p.split("/")
            if not p or p.startswith("/") or ".." in parts:
                raise InvalidRequest(
                    f"target path {p!r} must be relative to the repo, without '..'"
                )
        requested = req.workspace.requested_path
        if requested is not None and not os.path.isabs(requested):
            raise InvalidRequest("workspace.requested_path must be absolute")
        raw = None
        if req.workspace.archive_b64 is not None:
            raw = archive.decode_b64(req.workspace.archive_b64, self.limits)
        visible = visible_dir(requested)
        if raw is None and requested is not None and not visible:
            raise InvalidRequest(
                f"workspace.requested_path {requested} is not a directory this sandbox can see: "
                "send workspace.archive_b64 instead (through the gateway: "
                "HIVE_SANDBOX_WORKSPACE_VISIBILITY=separate makes it send the archive)"
            )
        if await self.store.stream_version(stream_id(task_id)) > 0:
            raise DuplicateTask(f"task {task_id!r} already exists")
        self.backends.check_request(backend, req.instructions)
        dirs = self._claim_task_dir(task_id)
        try:
            seeded = await self._seed(
                dirs,
                requested_path=Path(requested) if raw is None and requested else None,
                archive_bytes=raw,
            )
            created = DevTaskCreated(
                task_id=task_id,
                project_id=req.project_id,
                instructions=req.instructions,
                backend=backend,
                target_paths=list(req.target_paths),
                requested_path=requested,
                has_archive=raw is not None,
                created_at=now(),
            )
            state = await self._start_stream(task_id, created, seeded, dirs)
        except BaseException:
            shutil.rmtree(dirs.root, ignore_errors=True)
            raise
        return await self.status_of(state)

    async def _start_stream(
        self,
        task_id: str,
        created: DevTaskCreated,
        seeded: Seeded,
        dirs: TaskDirs,
        *,
        also: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> WorkRunState:
        """Append Created + Seeded + AttemptStarted(1) with the seed and lease rows."""
        manifest = self._manifest(
            task_id,
            dirs,
            seeded.source,
            created.target_paths,
            created.requested_path,
            created.has_archive,
        )
        events: list[Event] = [
            created,
            WorkspaceSeeded(
                source=seeded.source,
                repo_path=str(dirs.repo),
                baseline_commit=seeded.baseline_commit,
                file_count=seeded.file_count,
                size_bytes=seeded.size_bytes,
                manifest=manifest,
                seeded_at=now(),
            ),
            self._attempt_started(task_id, created.backend, 1, None),
        ]
        state = WorkRunState()
        at = now()
        for v, e in enumerate(events, start=1):
            state.apply(e, v, at)  # type: ignore[arg-type]
        started = events[-1]
        assert isinstance(started, AttemptStarted)
        async with self.pool.acquire() as conn, conn.transaction():
            if also is not None:
                await also(conn)
            try:
                await self.store.append(stream_id(task_id), events, 0, conn=conn)
            except VersionConflict as exc:
                raise DuplicateTask(f"task {task_id!r} already exists") from exc
            await self.blobs.put_seed(
                conn, task_id, hashlib.sha256(seeded.tarball).hexdigest(), seeded.tarball
            )
            await self.leases.put_pending(conn, task_id, 1, started.attempt_id)
        write_artifact_manifest(dirs, state)
        return state

    async def requeue(self, task_id: str, *, reason: str | None = None) -> DevTaskStatus:
        """A new logical task seeded fresh from this task's seed, linked both ways."""
        state = await self.load(task_id)
        _check_requeueable(state)
        tarball = await self.blobs.seed(task_id)
        if tarball is None:
            raise StateConflict(f"task {task_id} has no stored seed to requeue from")
        new_id = new_task_id()
        dirs = self._claim_task_dir(new_id)
        try:
            seeded = await self._seed(dirs, requested_path=None, archive_bytes=tarball)
            created = DevTaskCreated(
                task_id=new_id,
                project_id=state.project_id,
                instructions=state.instructions,
                backend=state.backend,
                target_paths=list(state.target_paths),
                requested_path=state.requested_path,
                has_archive=True,
                requeued_from=task_id,
                created_at=now(),
            )
            for _ in range(MAX_RETRIES):
                old = await self.load(task_id)
                _check_requeueable(old)
                link = TaskRequeued(new_task_id=new_id, reason=reason, requeued_at=now())
                try:
                    old.apply(link, old.stream_version + 1, now())
                except InvalidTransition as exc:
                    raise StateConflict(str(exc), state=exc.state) from exc
                expected = old.stream_version - 1

                async def link_old(
                    conn: asyncpg.Connection, link: TaskRequeued = link, expected: int = expected
                ) -> None:
                    await self.store.append(stream_id(task_id), [link], expected, conn=conn)

                try:
                    new_state = await self._start_stream(
                        new_id, created, seeded, dirs, also=link_old
                    )
                except VersionConflict:
                    continue
                return await self.status_of(new_state)
            raise StateConflict(f"task {task_id}: too many concurrent writers, try again")
        except BaseException:
            shutil.rmtree(dirs.root, ignore_errors=True)
            raise


def _check_requeueable(state: WorkRunState) -> None:
    probe = TaskRequeued(new_task_id="probe", requeued_at=now())
    shadow = WorkRunState(state=state.state, requeued_to=state.requeued_to)
    try:
        shadow.apply(probe, 1, now())
    except InvalidTransition as exc:
        raise StateConflict(
            f"requeue needs a stale, failed, cancelled, rejected or apply_failed task that was "
            f"not requeued yet; task {state.task_id} is {state.state}"
            + (f" (requeued to {state.requeued_to})" if state.requeued_to else ""),
            state=state.state,
        ) from exc
