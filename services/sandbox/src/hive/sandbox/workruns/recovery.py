"""Work Run recovery: resume a stale or failed task; mark attempts whose lease expired stale."""

from __future__ import annotations

import logging

import asyncpg

from hive.contracts.api import DevTaskStatus
from hive.contracts.events import AttemptFinished, AttemptMarkedStale, Event
from hive.events import VersionConflict
from hive.sandbox.workruns.decide import WorkRunBase, now
from hive.sandbox.workruns.errors import StateConflict, TaskNotFound
from hive.sandbox.workruns.leases import Lease
from hive.sandbox.workruns.state import RESUMABLE, WorkRunState, stream_id

log = logging.getLogger("hive.sandbox.workruns")


class Recovery(WorkRunBase):
    """New attempts for interrupted tasks, and the sweep of expired leases."""

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
            lease = await self.leases.lock_leased(conn, task_id, attempt_no)
            if lease is None:
                return
            try:
                async with conn.transaction():
                    await self._mark_stale(conn, lease, reason)
            except (VersionConflict, StateConflict, TaskNotFound):
                log.warning("could not mark %s attempt %d stale: %s", task_id, attempt_no, reason)
