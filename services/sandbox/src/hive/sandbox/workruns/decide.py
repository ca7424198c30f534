"""The one write path of Work Runs, shared by every part of the service.

Each state change follows one pattern (`WorkRunBase._decide`): fold the stream
(snapshot + tail), let `WorkRunState.apply` judge the new events on that fold,
then append them with the folded version as the expected version, together
with any rows they imply (lease, artifact bytes, patch, seed) in the same
transaction. A `VersionConflict` means another writer got there first: fold
again and decide again. That is why two concurrent resumes end with exactly
one winner - the loser's second decision sees a running task and is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from hive.contracts.api import DevTaskStatus, RuntimeInfo
from hive.contracts.events import AttemptStarted, Event
from hive.events import EventStore, InvalidTransition, ProjectionRunner, VersionConflict
from hive.sandbox.storage import SandboxStorage, TaskDirs
from hive.sandbox.workruns import archive, git_repo
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.blobs import BlobStore
from hive.sandbox.workruns.catalog import BackendCatalog
from hive.sandbox.workruns.errors import StateConflict, TaskNotFound
from hive.sandbox.workruns.leases import Lease, LeaseStore
from hive.sandbox.workruns.projection import WorkRunProjection, WorkRunRepository
from hive.sandbox.workruns.state import WorkRunState, stream_id

# Appends that only add facts (checkpoints, artifacts, command records) race
# with the worker's own appends; they retry. Decisions (resume, approve, ...)
# are re-judged on each retry, so a lost race ends as a refusal, not a retry.
MAX_RETRIES = 20

Decide = Callable[[WorkRunState, asyncpg.Connection], Awaitable[Sequence[Event]]]
# Awaited with the task id once TaskApproved is committed, before the apply. Only tests
# set it (a crash-during-approval test kills the sandbox inside it); the composition
# root leaves it unset.
AfterApprove = Callable[[str], Awaitable[None]]


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


class WorkRunBase:
    """What every part of the Work Run service shares: stores, settings, the write path."""

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
        after_approve: AfterApprove | None = None,
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
        self.after_approve = after_approve
        """A test seam: awaited between TaskApproved and the apply (None in production)."""
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


def write_artifact_manifest(dirs: TaskDirs, state: WorkRunState) -> None:
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
