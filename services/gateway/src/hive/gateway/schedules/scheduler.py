"""The scheduler loop: every tick, take or renew the lease; as leader, fire what is due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hive.contracts.agents import RunRequest, RunResult
from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError
from hive.gateway.schedules.lease import LeaderLease
from hive.gateway.schedules.store import Fenced, Firing, ScheduleStore

log = logging.getLogger("hive.gateway.schedules")

StartRun = Callable[[str, RunRequest], Awaitable[RunResult]]


class Scheduler:
    """Fires schedules while this gateway holds the lease."""

    def __init__(
        self, store: ScheduleStore, lease: LeaderLease, start_run: StartRun, tick_s: float
    ) -> None:
        self.store = store
        self.lease = lease
        self.start_run = start_run
        self.tick_s = tick_s

    async def run_forever(self) -> None:
        """Tick until cancelled; give the lease up on the way out."""
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # one bad tick (database blip) must not stop scheduling
                    log.exception("scheduler tick failed")
                await asyncio.sleep(self.tick_s)
        finally:
            if self.lease.epoch is not None:
                try:
                    await self.lease.release()
                except Exception:  # shutting down: the lease expires by itself
                    log.warning("could not release the scheduler lease")

    async def tick(self) -> int:
        """One round; how many runs were started."""
        epoch = await self.lease.acquire_or_renew()
        if epoch is None:
            return 0
        started = 0
        try:
            for schedule_id in await self.store.due():
                firing = await self.store.fire(schedule_id, self.lease, epoch)
                if firing is not None:
                    started += await self._start(firing, epoch)
            for firing in await self.store.promote_queued(self.lease, epoch):
                started += await self._start(firing, epoch)
            for firing in await self.store.fired_without_run():
                started += await self._start(firing, epoch)
        except Fenced as exc:
            log.warning("scheduler deposed: %s", exc)
        return started

    async def _start(self, firing: Firing, epoch: int) -> int:
        request = RunRequest(
            input=firing.input, run_id=firing.run_id, wait_s=0, schedule_id=firing.schedule_id
        )
        try:
            await self.start_run(firing.agent_id, request)
        except HiveError as exc:  # the runtime's refusal, in process or passed on over HTTP
            if exc.code == ErrorCode.AGENT_BUSY:
                outcome = "skipped" if firing.overlap == "skip" else "queued"
                await self.store.mark(firing, outcome, self.lease, epoch)
            else:
                log.warning("schedule %s: run not started: %s", firing.schedule_id, exc)
            return 0
        log.info("schedule %s fired run %s", firing.schedule_id, firing.run_id)
        return 1
