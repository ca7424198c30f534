"""WorkRuns: every Work Run command, decided against the folded stream and appended.

Each state change follows one pattern (`_decide`): fold the stream (snapshot +
tail), let `WorkRunState.apply` judge the new events on that fold, then append
them with the folded version as the expected version, together with any rows
they imply (lease, artifact bytes, patch, seed) in the same transaction. A
`VersionConflict` means another writer got there first: fold again and decide
again. That is why two concurrent resumes end with exactly one winner - the
loser's second decision sees a running task and is refused.

Status is `WorkRunState.to_status()` plus the heartbeat of the task's lease
row; lists come from the `work_runs` read model, caught up on demand.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from hive.contracts.api import (
    CheckpointAccepted,
    CreateDevTask,
    DevTaskStatus,
    RuntimeInfo,
    StoredEvent,
)
from hive.contracts.events import (
    ArtifactRecorded,
    AttemptFinished,
    AttemptMarkedStale,
    AttemptOutcome,
    AttemptStarted,
    CheckpointRecorded,
    CommandFinished,
    CommandStarted,
    DevTaskCreated,
    Event,
    PatchApplied,
    PatchApplyFailed,
    PatchProposed,
    TaskApproved,
    TaskCancelled,
    TaskRejected,
    TaskRequeued,
    WorkspaceSeeded,
)
from hive.contracts.manifest import WorkspaceManifest
from hive.events import (
    EventStore,
    InvalidTransition,
    ProjectionRunner,
    RecordedEvent,
    VersionConflict,
    WorkRunProjection,
    WorkRunRepository,
    WorkRunState,
)
from hive.events.workrun import RESUMABLE, stream_id
from hive.sandbox.backends import KNOWN_BACKENDS, BackendUnavailable, CodingBackend, create_backend
from hive.sandbox.backends.readiness import BackendReadiness
from hive.sandbox.confinement import Confinement
from hive.sandbox.storage import InvalidId, SandboxStorage, TaskDirs, check_id
from hive.sandbox.workruns import archive, git_repo
from hive.sandbox.workruns.apply_back import ApplyBack, public_url, visible_dir
from hive.sandbox.workruns.apply_lease import apply_lease, approved_task_ids
from hive.sandbox.workruns.blobs import BlobStore, StoredArtifact
from hive.sandbox.workruns.errors import (
    ArtifactNotFound,
    DuplicateTask,
    InvalidRequest,
    StateConflict,
    TaskNotFound,
)
from hive.sandbox.workruns.git_repo import Patch
from hive.sandbox.workruns.leases import Lease, LeaseStore
from hive.sandbox.workruns.seed import Seeded, seed_repo

log = logging.getLogger("hive.sandbox.workruns")

ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024
# Appends that only add facts (checkpoints, artifacts, command records) race
# with the worker's own appends; they retry. Decisions (resume, approve, ...)
# are re-judged on each retry, so a lost race ends as a refusal, not a retry.
MAX_RETRIES = 20
# How long an approve waits for an apply another caller is running before it answers
# with the task still `approved` (the holder records the outcome).
APPLY_WAIT_S = 60.0

Decide = Callable[[WorkRunState, asyncpg.Connection], Awaitable[Sequence[Event]]]


def now() -> datetime:
    """Wall-clock UTC (event timestamps; leases use the database clock)."""
    return datetime.now(UTC)


def new_task_id() -> str:
    """A fresh logical task id."""
    return f"wr-{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, slots=True)
class Decided:
    """The folded state after a successful append, and where it landed."""

    state: WorkRunState
    first_version: int
    last_version: int


class BackendCatalog:
    """The coding backends this replica can run, built once per name.

    `readiness` (decided at startup, see `hive.sandbox.backends.readiness`) lets
    a create naming a backend that cannot run here be refused with the fix; without
    it (tests that inject backends) every known backend is taken as usable.
    """

    def __init__(
        self,
        settings: Any,
        overrides: Mapping[str, CodingBackend] | None = None,
        confinement: Confinement | None = None,
        readiness: Mapping[str, BackendReadiness] | None = None,
    ) -> None:
        self.settings = settings
        self.confinement = confinement
        self._built: dict[str, CodingBackend | BackendUnavailable] = dict(overrides or {})
        self.readiness = dict(readiness or {})

    def check_request(self, name: str, instructions: str) -> None:
        """InvalidRequest when the backend cannot run here or could never run these instructions."""
        verdict = self.readiness.get(name)
        if verdict is not None and not verdict.usable:
            raise InvalidRequest(verdict.refusal())
        try:
            backend = self.get(name)
        except BackendUnavailable as exc:
            raise InvalidRequest(str(exc)) from exc
        check = getattr(backend, "check_instructions", None)
        if check is not None:
            try:
                check(instructions)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from exc

    def get(self, name: str) -> CodingBackend:
        """The backend, or BackendUnavailable naming why it cannot run."""
        found = self._built.get(name)
        if found is None:
            try:
                found = create_backend(name, self.settings, self.confinement)
            except BackendUnavailable as exc:
                found = exc
            self._built[name] = found
        if isinstance(found, BackendUnavailable):
            raise found
        return found

    def execution_class(self, name: str) -> str:
        """How the backend runs, or `unavailable`."""
        try:
            return self.get(name).execution_class
        except BackendUnavailable:
            return "unavailable"


class WorkRuns:
    """The Work Run domain service (shared by the HTTP API and the worker)."""

    def __init__(
        self,
        *,
        store: EventStore,
        storage: SandboxStorage,
        backends: BackendCatalog,
        apply_back: ApplyBack,
        default_backend: str,
        lease_ttl_s: float,
        limits: archive.ArchiveLimits | None = None,
        use_snapshots: bool = True,
        git_timeout_s: float = git_repo.DEFAULT_TIMEOUT_S,
        test_pause_after_approve_s: float = 0.0,
    ) -> None:
        self.store = store
        self.pool: asyncpg.Pool = store.pool
        self.repo = WorkRunRepository(store)
        self.storage = storage
        self.backends = backends
        self.apply_back = apply_back
        self.default_backend = default_backend
        self.lease_ttl_s = lease_ttl_s
        self.limits = limits or archive.ArchiveLimits()
        self.use_snapshots = use_snapshots
        self.git_timeout_s = git_timeout_s
        self.test_pause_after_approve_s = test_pause_after_approve_s
        self.leases = LeaseStore(self.pool)
        self.blobs = BlobStore(self.pool)
        self.projection = WorkRunProjection()
        self.projections = ProjectionRunner(store)
        # Attempts running in this process, told directly when a cancel lands here.
        self._cancel_listeners: dict[str, Callable[[], None]] = {}

    def on_cancel(self, task_id: str, stop: Callable[[], None]) -> Callable[[], None]:
        """Call `stop` when this process cancels `task_id`; returns the unsubscribe."""
        self._cancel_listeners[task_id] = stop

        def unsubscribe() -> None:
            if self._cancel_listeners.get(task_id) is stop:
                del self._cancel_listeners[task_id]

        return unsubscribe

    # -- the one write path ---------------------------------------------------------------

    async def load(self, task_id: str) -> WorkRunState:
        """The live fold of the task's stream."""
        state = await self.repo.load(task_id, use_snapshot=self.use_snapshots)
        if state is None:
            raise TaskNotFound(task_id)
        return state

    async def _decide(self, task_id: str, decide: Decide, *, retries: int = MAX_RETRIES) -> Decided:
        """Fold, decide, validate, append at the folded version; re-decide on conflicts."""
        sid = stream_id(task_id)
        for _ in range(retries):
            state = await self.load(task_id)
            expected = state.stream_version
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    events = list(await decide(state, conn))
                    if not events:
                        return Decided(state, expected, expected)
                    at = now()
                    for offset, event in enumerate(events, start=1):
                        try:
                            state.apply(event, expected + offset, at)  # type: ignore[arg-type]
                        except InvalidTransition as exc:
                            raise StateConflict(str(exc), state=exc.state) from exc
                    result = await self.store.append(sid, events, expected, conn=conn)
            except VersionConflict:
                continue
            return Decided(state, result.first_version, result.last_version)
        raise StateConflict(f"task {task_id}: too many concurrent writers, try again")

    # -- create and requeue ---------------------------------------------------------------

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

    def _attempt_started(
        self, task_id: str, backend: str, attempt_no: int, resumed_from: int | None
    ) -> AttemptStarted:
        dirs = self.storage.task_dirs(task_id, create=False)
        return AttemptStarted(
            attempt_no=attempt_no,
            attempt_id=uuid.uuid4().hex,
            backend=backend,
            backend_run_id=f"{backend}-{uuid.uuid4().hex[:12]}",
            execution_class=self.backends.execution_class(backend),
            artifact_root=str(dirs.artifacts),
            log_root=str(dirs.logs),
            resumed_from_checkpoint=resumed_from,
            started_at=now(),
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
        _write_artifact_manifest(dirs, state)
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

    # -- review and recovery --------------------------------------------------------------

    async def resume(self, task_id: str) -> DevTaskStatus:
        """A new attempt under the same task id, continuing from the latest durable checkpoint."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            if state.state not in RESUMABLE or state.requeued_to is not None:
                raise StateConflict(
                    f"resume needs a stale or failed task that was not requeued; "
                    f"task {task_id} is {state.state}",
                    state=state.state,
                )
            repo = self.storage.task_dirs(task_id, create=False).repo
            if not (repo / ".git").is_dir():
                raise StateConflict(
                    f"the workspace of task {task_id} is unavailable; requeue instead",
                    state=state.state,
                )
            durable = state.latest_durable
            started = self._attempt_started(
                task_id,
                state.backend,
                state.next_attempt_no(),
                durable.checkpoint_sequence_no if durable else None,
            )
            await self.leases.put_pending(conn, task_id, started.attempt_no, started.attempt_id)
            return [started]

        decided = await self._decide(task_id, decide)
        return await self.status_of(decided.state)

    async def cancel(
        self, task_id: str, *, reason: str | None = None, actor: str | None = None
    ) -> DevTaskStatus:
        """Cancel; an unclaimed attempt ends at once, a running one is told to stop."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            events: list[Event] = [
                TaskCancelled(reason=reason, cancelled_by=actor, cancelled_at=now())
            ]
            current = state.current_attempt
            if state.state == "running" and current is not None and current.state == "running":
                lease_state = await conn.fetchval(
                    "SELECT state FROM work_run_leases WHERE task_id = $1 FOR UPDATE", task_id
                )
                if lease_state == "leased":
                    await self.leases.request_cancel(conn, task_id)
                else:
                    events.append(
                        AttemptFinished(
                            attempt_no=current.attempt_no,
                            attempt_id=current.attempt_id,
                            outcome="cancelled",
                            reason=reason or "cancelled before a worker claimed it",
                            finished_at=now(),
                        )
                    )
                    await self.leases.set_state(conn, task_id, current.attempt_no, "released")
            return events

        decided = await self._decide(task_id, decide)
        # Committed: an attempt running in this very process stops now; one on another
        # replica is woken by the NOTIFY `request_cancel` sent (or its cancel poll).
        if (stop := self._cancel_listeners.get(task_id)) is not None:
            stop()
        return await self.status_of(decided.state)

    async def reject(
        self, task_id: str, *, reason: str | None = None, actor: str | None = None
    ) -> DevTaskStatus:
        """Reject the proposed patch."""

        async def decide(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            return [TaskRejected(rejected_by=actor, reason=reason, rejected_at=now())]

        decided = await self._decide(task_id, decide)
        return await self.status_of(decided.state)

    async def approve(self, task_id: str, *, actor: str | None = None) -> DevTaskStatus:
        """Approve, then apply back (direct, or relay) and record how that went.

        Approving a task that is already `approved` retries its apply: that is how an
        operator finishes an approval whose replica died mid-apply when no worker
        runs (a worker does it on its own, see `recover_approved`).
        """
        deadline = time.monotonic() + APPLY_WAIT_S
        while True:
            async with apply_lease(self.pool, task_id) as held:
                if held:
                    return await self._approve_and_apply(task_id, actor)
            # Another caller (a concurrent approve, or a recovering replica) is applying
            # it right now: answer with what that apply ends in.
            state = await self.load(task_id)
            if state.state in ("applied", "apply_failed"):
                return await self.status_of(state)
            if state.state not in ("awaiting_review", "approved"):
                raise StateConflict(
                    f"approve needs a task awaiting review; task {task_id} is {state.state}",
                    state=state.state,
                )
            if time.monotonic() >= deadline:
                return await self.status_of(state)  # still `approved`: being applied elsewhere
            await asyncio.sleep(0.2)

    async def _approve_and_apply(self, task_id: str, actor: str | None) -> DevTaskStatus:
        """Append TaskApproved (unless approved already), then apply; the apply lease is held."""
        if (await self.load(task_id)).state != "approved":

            async def approve_(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
                return [TaskApproved(approved_by=actor, approved_at=now())]

            await self._decide(task_id, approve_)
            if self.test_pause_after_approve_s > 0:
                # TEST SEAM (HIVE_SANDBOX_TEST_PAUSE_AFTER_APPROVE_S, never set in
                # production): the window a crash-during-approval test kills us in.
                log.warning(
                    "test seam: pausing %.1f s after TaskApproved", self.test_pause_after_approve_s
                )
                await asyncio.sleep(self.test_pause_after_approve_s)
        return await self.status_of(await self._apply_approved(task_id))

    async def _apply_approved(self, task_id: str) -> WorkRunState:
        """Land the patch of an `approved` task and record the result (apply lease held)."""
        st = await self.load(task_id)
        if st.state != "approved":
            return st
        assert st.patch is not None
        diff = await self.blobs.patch(task_id, st.patch.attempt_no)
        if diff is None:
            outcome_error: str | None = "the proposed patch is missing from the patch store"
            mode, target = "direct", st.requested_path
        else:
            outcome = await self.apply_back.apply(
                task_id=task_id,
                project_id=st.project_id,
                requested_path=st.requested_path,
                baseline_commit=st.baseline_commit,
                diff=diff,
            )
            outcome_error, mode, target = outcome.error, outcome.mode, outcome.target
            if outcome.already_applied:
                log.info(
                    "task %s: the patch was already in %s; recorded as applied", task_id, target
                )

        async def record(state: WorkRunState, conn: asyncpg.Connection) -> list[Event]:
            if state.state != "approved":
                return []  # recorded meanwhile (a lease lost with its connection): keep that
            if outcome_error is None:
                return [PatchApplied(mode=mode, target=target, applied_at=now())]  # type: ignore[arg-type]
            return [
                PatchApplyFailed(mode=mode, target=target, reason=outcome_error, failed_at=now())  # type: ignore[arg-type]
            ]

        return (await self._decide(task_id, record)).state

    async def recover_approved(self, *, limit: int = 20) -> list[str]:
        """Finish the apply of `approved` tasks nobody is applying (their replica died mid-apply).

        Found through the read model (eventually consistent; each candidate is
        re-read under its apply lease); a task whose lease is held is being
        applied by a live replica and is skipped. Returns the task ids finished.
        """
        finished: list[str] = []
        for task_id in await approved_task_ids(self.pool, limit):
            async with apply_lease(self.pool, task_id) as held:
                if not held:
                    continue
                after = await self._apply_approved(task_id)
            if after.state != "approved":
                finished.append(task_id)
        return finished

    # -- facts reported by a running attempt ------------------------------------------------

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
            _write_artifact_manifest(dirs, decided.state)
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

    async def mark_stale_expired(self) -> list[str]:
        """Mark every attempt whose lease expired as stale; return the task ids."""
        marked: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for lease in await self.leases.lock_expired(conn):
                try:
                    async with conn.transaction():  # a savepoint per lease
                        if await self._mark_stale(conn, lease):
                            marked.append(lease.task_id)
                except (VersionConflict, StateConflict, TaskNotFound):
                    continue  # the owner wrote meanwhile: it is alive; look again later
        return marked

    async def _mark_stale(
        self, conn: asyncpg.Connection, lease: Lease, reason: str | None = None
    ) -> bool:
        state = await self.load(lease.task_id)
        current = state.current_attempt
        is_current = current is not None and current.attempt_no == lease.attempt_no
        events: list[Event] = []
        if is_current and state.state == "running" and current is not None:
            events = [
                AttemptMarkedStale(
                    attempt_no=lease.attempt_no,
                    attempt_id=current.attempt_id,
                    reason=reason or f"lease held by {lease.owner} expired without a heartbeat",
                    lease_expired_at=lease.expires_at or now(),
                    marked_at=now(),
                )
            ]
        elif is_current and current is not None and current.state == "running":
            events = [
                AttemptFinished(
                    attempt_no=lease.attempt_no,
                    attempt_id=current.attempt_id,
                    outcome="lost",
                    reason="the runner's lease expired after the task was cancelled",
                    finished_at=now(),
                )
            ]
        if events:
            at = now()
            for i, e in enumerate(events, start=1):
                state.apply(e, state.stream_version + i, at)  # type: ignore[arg-type]
            await self.store.append(
                stream_id(lease.task_id), events, state.stream_version - len(events), conn=conn
            )
        await self.leases.set_state(
            conn, lease.task_id, lease.attempt_no, "stale" if events else "released"
        )
        return bool(events) and isinstance(events[0], AttemptMarkedStale)

    async def abandon(self, task_id: str, attempt_no: int, reason: str) -> None:
        """Mark this replica's own running attempt stale now (graceful shutdown)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT task_id, attempt_no, attempt_id, state, owner, claimed_at, heartbeat_at, "
                "expires_at, cancel_requested FROM work_run_leases "
                "WHERE task_id = $1 AND attempt_no = $2 AND state = 'leased' FOR UPDATE",
                task_id,
                attempt_no,
            )
            if row is None:
                return
            try:
                async with conn.transaction():
                    await self._mark_stale(conn, Lease(**dict(row)), reason)
            except (VersionConflict, StateConflict, TaskNotFound):
                log.warning("could not mark %s attempt %d stale: %s", task_id, attempt_no, reason)

    # -- reads ------------------------------------------------------------------------------

    async def status_of(self, state: WorkRunState, lease: Lease | None = None) -> DevTaskStatus:
        """DevTaskStatus: the fold plus the lease row's heartbeat."""
        status = state.to_status()
        if lease is None:
            lease = await self.leases.get(state.task_id)
        if status.runtime is not None and lease is not None and lease.heartbeat_at is not None:
            age = max(0.0, (now() - lease.heartbeat_at).total_seconds())
            rt = status.runtime
            status.runtime = RuntimeInfo(
                backend_run_id=rt.backend_run_id,
                execution_class=rt.execution_class,
                artifact_root=rt.artifact_root,
                log_root=rt.log_root,
                heartbeat_at=lease.heartbeat_at,
                heartbeat_age_s=round(age, 3),
            )
        return status

    async def status(self, task_id: str) -> DevTaskStatus:
        """GET /dev-tasks/{task_id}."""
        return await self.status_of(await self.load(task_id))

    async def list_tasks(
        self, *, project_id: str | None = None, state: str | None = None, limit: int = 200
    ) -> list[DevTaskStatus]:
        """GET /dev-tasks from the read model (caught up first)."""
        await self.projections.catch_up(self.projection)
        states = await self.repo.list(project_id=project_id, state=state, limit=limit)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT task_id, attempt_no, attempt_id, state, owner, claimed_at, heartbeat_at, "
                "expires_at, cancel_requested FROM work_run_leases WHERE task_id = ANY($1)",
                [s.task_id for s in states],
            )
        leases = {r["task_id"]: Lease(**dict(r)) for r in rows}
        return [await self.status_of(s, leases.get(s.task_id)) for s in states]

    async def events(
        self, task_id: str, *, after: int = 0, limit: int | None = 1000
    ) -> list[StoredEvent]:
        """The typed stream after version `after`."""
        records = await self.store.read_stream(stream_id(task_id), after_version=after, limit=limit)
        if not records and await self.store.stream_version(stream_id(task_id)) == 0:
            raise TaskNotFound(task_id)  # nothing after V of no stream is a 404, not []
        return [stored_event(r) for r in records]

    async def patch(self, task_id: str) -> bytes:
        """The proposed unified diff."""
        state = await self.load(task_id)
        if state.patch is None:
            raise StateConflict(f"task {task_id} has no proposed patch", state=state.state)
        diff = await self.blobs.patch(task_id, state.patch.attempt_no)
        if diff is None:
            raise StateConflict(f"the patch of task {task_id} is missing", state=state.state)
        return diff

    async def artifact(self, task_id: str, name: str) -> StoredArtifact:
        """One artifact's bytes."""
        found = await self.blobs.artifact(task_id, name)
        if found is None:
            await self.load(task_id)
            raise ArtifactNotFound(f"task {task_id} has no artifact {name!r}")
        return found


class _Superseded(Exception):
    """The attempt being finished is no longer the task's running attempt."""


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


def stored_event(r: RecordedEvent) -> StoredEvent:
    """The events API's view of one stored event."""
    return StoredEvent(
        stream_version=r.stream_version,
        global_position=r.global_position,
        event_id=str(r.event_id),
        event_type=r.event_type,
        schema_version=r.schema_version,
        recorded_at=r.recorded_at,
        payload=json.loads(r.payload),
    )


def _write_artifact_manifest(dirs: TaskDirs, state: WorkRunState) -> None:
    """Mirror the artifact list into the task dir (the database stays authoritative)."""
    if not dirs.artifacts.is_dir():
        return
    body = [
        {"name": a.name, "size_bytes": a.size_bytes, "sha256": a.sha256, "attempt_no": a.attempt_no}
        for a in state.artifacts.values()
    ]
    tmp = dirs.artifacts / ".manifest.json.tmp"
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(dirs.artifacts / "manifest.json")
