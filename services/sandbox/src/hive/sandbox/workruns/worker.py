"""The worker inside every sandbox replica: claim attempts, run them, sweep stale leases.

Several replicas may share one database (and one task volume). Each claims
pending attempts with `FOR UPDATE SKIP LOCKED`, so an attempt runs on exactly
one replica; while it runs, the replica renews the lease every third of the
TTL. A replica that dies stops renewing; once `expires_at` passes, whichever
replica sweeps first appends `AttemptMarkedStale`, and an operator may then
resume the task (on any replica) or requeue it.

A replica that finds its lease gone (swept, or the task cancelled) sets
`ctx.cancelled` and writes nothing more: every callback it still makes is
refused by its `AttemptSession` or judged against the stream, so a slow
"zombie" cannot record checkpoints into an attempt that is no longer current.

Cancel is prompt, not a heartbeat away: a cancel handled by this process sets
the attempt's `ctx.cancelled` directly (`WorkRuns.on_cancel`); one handled by
another replica reaches the owner through a NOTIFY on `CANCEL_CHANNEL`, and a
one-second poll of the owner's `cancel_requested` rows covers a NOTIFY lost
with a dropped listener connection.

The same loop keeps the `work_runs` read model caught up, woken by the event
store's NOTIFY hint and polling as a fallback. Another finishes approvals whose
replica died between `TaskApproved` and the apply result (`recover_approved`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

import asyncpg

from hive.contracts.events import AttemptOutcome
from hive.events.store import CHANNEL as EVENTS_CHANNEL
from hive.sandbox.backends.base import (
    AttemptResult,
    BackendUnavailable,
)
from hive.sandbox.workruns import git_repo
from hive.sandbox.workruns.attempt_session import AttemptSession, CommandRunner, LeaseLost
from hive.sandbox.workruns.errors import StateConflict, WorkRunError
from hive.sandbox.workruns.leases import CANCEL_CHANNEL, WAKE_CHANNEL, Lease
from hive.sandbox.workruns.service import WorkRuns

log = logging.getLogger("hive.sandbox.worker")

# The fallback for a lost cancel NOTIFY (a listener connection that dropped and came
# back misses what was sent meanwhile). One query over the few leased rows per replica
# per second, and only while it runs attempts, is cheap; it bounds a cancel's delay to
# about a second plus the kill grace even then, where the heartbeat (TTL/3, 10 s by
# default) would not. Polling alone would cost the same but always take ~0.5 s more.
CANCEL_POLL_S = 1.0


class Worker:
    """Claims and runs attempts; sweeps expired leases; follows the read model."""

    def __init__(
        self,
        service: WorkRuns,
        *,
        commands: CommandRunner | None = None,
        owner: str | None = None,
        max_concurrent: int = 4,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.service = service
        self.commands = commands
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.max_concurrent = max_concurrent
        self.poll_interval_s = poll_interval_s
        self.ttl_s = service.lease_ttl_s
        self.running: dict[str, asyncio.Task[None]] = {}
        self._attempts: dict[str, int] = {}
        # task_id -> (attempt_no, its ctx.cancelled): what a cancel request sets.
        self._cancel_events: dict[str, tuple[int, asyncio.Event]] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None
        self.status = "stopped"

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the claim loop and the read-model follower."""
        try:
            self._listener = await self.service.pool.acquire()
            await self._listener.add_listener(WAKE_CHANNEL, self._hint)
            await self._listener.add_listener(EVENTS_CHANNEL, self._hint)
            await self._listener.add_listener(CANCEL_CHANNEL, self._cancel_hint)
        except (OSError, asyncpg.PostgresError):
            self._listener = None  # polling alone still finds every attempt
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="workrun-claims"),
            asyncio.create_task(self._follow_loop(), name="workrun-projection"),
            asyncio.create_task(self._cancel_watch(), name="workrun-cancels"),
            asyncio.create_task(self._apply_recovery(), name="workrun-apply-recovery"),
        ]
        self.status = "running"

    def _hint(self, *_: object) -> None:
        self._wake.set()

    def _cancel_hint(self, _conn: object, _pid: int, _channel: str, task_id: str) -> None:
        if (running := self._cancel_events.get(task_id)) is not None:
            running[1].set()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming; cancel running attempts and mark them stale so they can resume."""
        self._stop.set()
        self._wake.set()
        for task in self.running.values():
            task.cancel()
        if self.running:
            await asyncio.wait(list(self.running.values()), timeout=grace_s)
        for task_id, attempt_no in list(self._attempts.items()):
            with contextlib.suppress(Exception):
                await self.service.abandon(task_id, attempt_no, "sandbox replica shutting down")
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(WAKE_CHANNEL, self._hint)
                await self._listener.remove_listener(EVENTS_CHANNEL, self._hint)
                await self._listener.remove_listener(CANCEL_CHANNEL, self._cancel_hint)
            await self.service.pool.release(self._listener)
            self._listener = None
        self.status = "stopped"

    # -- loops ---------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if time.monotonic() >= next_sweep:
                    marked = await self.service.mark_stale_expired()
                    if marked:
                        log.info("marked stale: %s", ", ".join(marked))
                    next_sweep = time.monotonic() + max(0.2, self.ttl_s / 4)
                while len(self.running) < self.max_concurrent and not self._stop.is_set():
                    lease = await self.service.leases.claim(self.owner, self.ttl_s)
                    if lease is None:
                        break
                    self._launch(lease)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("worker loop: database error %s; retrying", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=min(self.poll_interval_s, self.ttl_s / 4)
                )

    async def _follow_loop(self) -> None:
        service = self.service
        while not self._stop.is_set():
            try:
                await service.projections.catch_up(service.projection)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("read-model follower: %s", type(exc).__name__)
            await asyncio.sleep(self.poll_interval_s)

    async def _apply_recovery(self) -> None:
        """Finish approvals whose replica died between TaskApproved and the apply result."""
        interval = max(1.0, self.ttl_s / 4)
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            try:
                finished = await self.service.recover_approved()
            except (OSError, asyncpg.PostgresError, WorkRunError) as exc:
                log.warning("apply recovery: %s", type(exc).__name__)
                continue
            if finished:
                log.info("finished abandoned applies: %s", ", ".join(finished))

    async def _cancel_watch(self) -> None:
        """Poll this replica's cancel requests (the NOTIFY's fallback; see CANCEL_POLL_S)."""
        while not self._stop.is_set():
            await asyncio.sleep(CANCEL_POLL_S)
            if not self._cancel_events:
                continue
            try:
                requested = await self.service.leases.cancels_requested(self.owner)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cancel poll: %s", type(exc).__name__)
                continue
            for task_id, attempt_no in requested:
                running = self._cancel_events.get(task_id)
                if running is not None and running[0] == attempt_no:
                    running[1].set()

    def _launch(self, lease: Lease) -> None:
        self._attempts[lease.task_id] = lease.attempt_no
        task = asyncio.create_task(self.run_claimed(lease), name=f"attempt-{lease.task_id}")
        self.running[lease.task_id] = task

        def done(t: asyncio.Task[None]) -> None:
            # A cancelled attempt stays in _attempts so stop() can mark it stale; one
            # that crashed keeps its lease unrenewed, so it turns stale after the TTL.
            self.running.pop(lease.task_id, None)
            if not t.cancelled() and (exc := t.exception()) is not None:
                log.error("attempt %s/%d crashed: %r", lease.task_id, lease.attempt_no, exc)
                self._attempts.pop(lease.task_id, None)
            self._wake.set()

        task.add_done_callback(done)

    # -- one attempt -----------------------------------------------------------------------------

    async def run_claimed(self, lease: Lease) -> None:
        """Run the attempt this replica claimed, then finish it on the stream."""
        service = self.service
        task_id, attempt_no = lease.task_id, lease.attempt_no
        state = await service.load(task_id)
        current = state.current_attempt
        if (
            state.state != "running"
            or current is None
            or current.attempt_no != attempt_no
            or current.state != "running"
        ):
            await service.finish_attempt(task_id, attempt_no, "cancelled", "no longer runnable")
            self._attempts.pop(task_id, None)
            return
        dirs = service.storage.task_dirs(task_id, create=False)
        if not (dirs.repo / ".git").is_dir():
            # Replicas must share the task volume; one that cannot see the workspace
            # fails the attempt loudly instead of running in an empty directory.
            await service.finish_attempt(
                task_id, attempt_no, "failed", f"workspace {dirs.repo} is not on this replica"
            )
            self._attempts.pop(task_id, None)
            return
        session = AttemptSession(
            service,
            lease,
            service.storage.task_dirs(task_id),
            owner=self.owner,
            commands=self.commands,
        )
        dirs, cancelled, lost = session.dirs, session.cancelled, session.lost
        durable = state.latest_durable if current.resumed_from_checkpoint is not None else None
        ctx = session.context(state, durable)
        self._cancel_events[task_id] = (attempt_no, cancelled)
        unsubscribe = service.on_cancel(task_id, cancelled.set)
        beat = asyncio.create_task(session.keep_alive())
        outcome: AttemptOutcome
        reason: str | None = None
        try:
            try:
                backend = service.backends.get(state.backend)
                result = await backend.run(ctx)
            except BackendUnavailable as exc:
                result = AttemptResult("failed", f"backend unavailable: {exc}")
            except LeaseLost:
                lost.set()
                result = AttemptResult("cancelled", "lease lost")
            except StateConflict:
                # The stream refused a fact the attempt reported (say, a checkpoint after a
                # cancel the heartbeat has not relayed yet): the lease is still ours, so the
                # attempt ends here, cancelled, instead of staying `running` for ever.
                result = AttemptResult("cancelled", "the task changed state while the attempt ran")
            except Exception as exc:  # a backend bug must not kill the worker
                log.exception("backend %s failed on %s", state.backend, task_id)
                result = AttemptResult("failed", f"backend error: {type(exc).__name__}")
        finally:
            unsubscribe()
            if self._cancel_events.get(task_id, (0, None))[1] is cancelled:
                del self._cancel_events[task_id]
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        if lost.is_set():
            log.warning("attempt %s/%d lost its lease; not reporting", task_id, attempt_no)
            self._attempts.pop(task_id, None)
            return
        outcome, reason = result.outcome, result.reason
        patch = None
        if outcome == "succeeded":
            if state.baseline_commit is None:
                outcome, reason = "failed", "the task has no baseline commit"
            else:
                try:
                    patch = await git_repo.diff_against(
                        dirs.repo,
                        state.baseline_commit,
                        trusted=dirs.git_trusted,
                        timeout_s=service.git_timeout_s,
                    )
                except git_repo.GitError as exc:
                    outcome, reason = "failed", f"could not compute the patch: {exc.stderr[:300]}"
                if patch is not None and patch.repaired:
                    # Kept on the attempt for the reviewer: it rewrote git's own config.
                    restored = "restored the seeded .git state before computing the patch: "
                    reason = "; ".join(filter(None, [reason, restored + ", ".join(patch.repaired)]))
                if patch is not None and not patch.diff:
                    patch = None
        await service.finish_attempt(task_id, attempt_no, outcome, reason, patch=patch)
        self._attempts.pop(task_id, None)


__all__ = ["CANCEL_POLL_S", "CommandRunner", "LeaseLost", "Worker"]
