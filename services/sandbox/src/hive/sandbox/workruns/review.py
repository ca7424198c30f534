"""Work Run review: cancel, reject, approve and the apply back that follows an approval."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from hive.contracts.api import DevTaskStatus
from hive.contracts.events import (
    AttemptFinished,
    Event,
    PatchApplied,
    PatchApplyFailed,
    TaskApproved,
    TaskCancelled,
    TaskRejected,
)
from hive.sandbox.workruns.apply_lease import apply_lease, approved_task_ids
from hive.sandbox.workruns.decide import WorkRunBase, now
from hive.sandbox.workruns.errors import StateConflict
from hive.sandbox.workruns.state import WorkRunState

log = logging.getLogger("hive.sandbox.workruns")

# How long an approve waits for an apply another caller is running before it answers
# with the task still `approved` (the holder records the outcome).
APPLY_WAIT_S = 60.0


class Review(WorkRunBase):
    """The operator's decisions on a task, and finishing applies a dead replica left."""

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
                if await self.leases.lock_state(conn, task_id) == "leased":
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
            if self.after_approve is not None:
                # The test seam (see AfterApprove): the window a crash test kills us in.
                await self.after_approve(task_id)
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
