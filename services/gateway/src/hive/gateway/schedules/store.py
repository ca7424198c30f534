"""Schedules and their firings (`agent_schedules`, `schedule_firings`): queries only here.

`fire` is the heart: in one transaction that first checks the leader lease
(holder + epoch, row share-locked), it takes a due schedule `FOR UPDATE`,
works out every fire time since `next_fire_at`, records the ones older than
the catch-up window as `missed`, decides the most recent one (fired, or
skipped/queued when a run of the agent is active), and moves `next_fire_at`
past now. The primary key (schedule_id, fire_time) makes a firing unique
whatever happens; the run id is derived from it, so starting a fired run
twice (after a crash between commit and start) starts it once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from hive.contracts.agents import FiringView, ScheduleCreate, ScheduleUpdate, ScheduleView
from hive.gateway.schedules.cron import check, next_after
from hive.gateway.schedules.lease import LeaderLease

MAX_FIRE_TIMES = 1000
"""Fire times walked per schedule per firing; past it, the rest is skipped over unrecorded."""

_COLUMNS = (
    "schedule_id, agent_id, cron, input, timezone, overlap, catch_up_s, paused, "
    "next_fire_at, created_at"
)


class Fenced(Exception):
    """This gateway is no longer the leader (its epoch is not the lease row's)."""


@dataclass(frozen=True, slots=True)
class Firing:
    """A run to start for a schedule."""

    schedule_id: str
    agent_id: str
    input: str
    run_id: str
    overlap: str


def run_id_for(schedule_id: str, fire_time: datetime) -> str:
    """The run id of one firing (the same firing always names the same run)."""
    digest = hashlib.sha256(f"{schedule_id}\0{fire_time.isoformat()}".encode()).hexdigest()
    return "sch-" + digest[:32]


def _view(row: asyncpg.Record) -> ScheduleView:
    return ScheduleView(**dict(row))


class ScheduleStore:
    """Queries on schedules and firings."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- operator side ------------------------------------------------------------------

    async def create(self, agent_id: str, body: ScheduleCreate, now: datetime) -> ScheduleView:
        """Insert a schedule; its first firing is the first fire time after now."""
        check(body.cron, body.timezone)
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"INSERT INTO agent_schedules (schedule_id, agent_id, cron, timezone, input, "
                f"overlap, catch_up_s, paused, next_fire_at) "
                f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_COLUMNS}",
                "sch_" + secrets.token_hex(8),
                agent_id,
                body.cron,
                body.timezone,
                body.input,
                body.overlap,
                body.catch_up_s,
                body.paused,
                next_after(body.cron, body.timezone, now),
            )
        return _view(row)

    async def get(self, agent_id: str, schedule_id: str) -> ScheduleView | None:
        """A live schedule of the agent."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM agent_schedules WHERE schedule_id = $1 AND agent_id = $2 "
                "AND deleted_at IS NULL",
                schedule_id,
                agent_id,
            )
        return None if row is None else _view(row)

    async def of_agent(self, agent_id: str) -> list[ScheduleView]:
        """The agent's live schedules."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM agent_schedules WHERE agent_id = $1 "
                "AND deleted_at IS NULL ORDER BY created_at",
                agent_id,
            )
        return [_view(r) for r in rows]

    async def update(
        self, current: ScheduleView, body: ScheduleUpdate, now: datetime
    ) -> ScheduleView:
        """Change fields; a changed cron/zone, or a resume, recomputes the next fire time
        from now (a paused span is not made up for)."""
        cron = body.cron if body.cron is not None else current.cron
        tz = body.timezone if body.timezone is not None else current.timezone
        check(cron, tz)
        paused = body.paused if body.paused is not None else current.paused
        recompute = (
            cron != current.cron or tz != current.timezone or (current.paused and not paused)
        )
        nxt = next_after(cron, tz, now) if recompute else current.next_fire_at
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"UPDATE agent_schedules SET cron = $2, timezone = $3, input = $4, overlap = $5, "
                f"catch_up_s = $6, paused = $7, next_fire_at = $8 WHERE schedule_id = $1 "
                f"RETURNING {_COLUMNS}",
                current.schedule_id,
                cron,
                tz,
                body.input if body.input is not None else current.input,
                body.overlap if body.overlap is not None else current.overlap,
                body.catch_up_s if body.catch_up_s is not None else current.catch_up_s,
                paused,
                nxt,
            )
        return _view(row)

    async def delete(self, schedule_id: str) -> None:
        """Mark deleted (its firings stay)."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE agent_schedules SET deleted_at = now() WHERE schedule_id = $1", schedule_id
            )

    async def firings(self, schedule_id: str, limit: int = 200) -> list[FiringView]:
        """Recent firings, newest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT fire_time, outcome, run_id, leader_epoch, recorded_at "
                "FROM schedule_firings WHERE schedule_id = $1 ORDER BY fire_time DESC LIMIT $2",
                schedule_id,
                limit,
            )
        return [FiringView(**dict(r)) for r in rows]

    # -- leader side ---------------------------------------------------------------------

    async def due(self, limit: int = 100) -> list[str]:
        """Schedules whose next fire time has come."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT schedule_id FROM agent_schedules WHERE NOT paused AND deleted_at IS NULL "
                "AND next_fire_at <= now() ORDER BY next_fire_at LIMIT $1",
                limit,
            )
        return [r["schedule_id"] for r in rows]

    async def fire(self, schedule_id: str, lease: LeaderLease, epoch: int) -> Firing | None:
        """Record the due firings of one schedule; the run to start, if any. Fenced if deposed."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await lease.still_leader(conn, epoch):
                raise Fenced(f"epoch {epoch} is no longer the lease's")
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM agent_schedules WHERE schedule_id = $1 AND NOT paused "
                "AND deleted_at IS NULL AND next_fire_at <= now() FOR UPDATE SKIP LOCKED",
                schedule_id,
            )
            if row is None:
                return None
            s = _view(row)
            now: datetime = await conn.fetchval("SELECT now()")
            times: list[datetime] = []
            t = s.next_fire_at
            while t <= now and len(times) < MAX_FIRE_TIMES:
                times.append(t)
                t = next_after(s.cron, s.timezone, t)
            if t <= now:  # a very long downtime: jump past now without recording the rest
                t = next_after(s.cron, s.timezone, now)
            window_start = now - timedelta(seconds=s.catch_up_s)
            latest = times[-1] if times and times[-1] >= window_start else None
            missed = times[:-1] if latest is not None else times
            records: list[tuple[Any, ...]] = [
                (schedule_id, ft, "missed", None, epoch) for ft in missed
            ]
            firing = None
            if latest is not None:
                run_id = run_id_for(schedule_id, latest)
                busy = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM agent_runs WHERE agent_id = $1 "
                    "AND status = 'running') OR EXISTS (SELECT 1 FROM schedule_firings f "
                    "JOIN agent_schedules s USING (schedule_id) WHERE s.agent_id = $1 "
                    "AND f.outcome = 'queued')",
                    s.agent_id,
                )
                if not busy:
                    outcome = "fired"
                    firing = Firing(schedule_id, s.agent_id, s.input, run_id, s.overlap)
                else:
                    outcome = "skipped" if s.overlap == "skip" else "queued"
                records.append((schedule_id, latest, outcome, run_id, epoch))
            if records:
                await conn.executemany(
                    "INSERT INTO schedule_firings (schedule_id, fire_time, outcome, run_id, "
                    "leader_epoch) VALUES ($1, $2, $3, $4, $5)",
                    records,
                )
            await conn.execute(
                "UPDATE agent_schedules SET next_fire_at = $2 WHERE schedule_id = $1",
                schedule_id,
                t,
            )
        return firing

    async def promote_queued(self, lease: LeaderLease, epoch: int) -> list[Firing]:
        """For each agent with no running run, its oldest queued firing becomes fired."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await lease.still_leader(conn, epoch):
                raise Fenced(f"epoch {epoch} is no longer the lease's")
            rows = await conn.fetch(
                "SELECT DISTINCT ON (s.agent_id) f.schedule_id, f.fire_time, f.run_id, "
                "s.agent_id, s.input, s.overlap FROM schedule_firings f "
                "JOIN agent_schedules s USING (schedule_id) WHERE f.outcome = 'queued' "
                "AND NOT EXISTS (SELECT 1 FROM agent_runs r WHERE r.agent_id = s.agent_id "
                "AND r.status = 'running') ORDER BY s.agent_id, f.fire_time"
            )
            for r in rows:
                await conn.execute(
                    "UPDATE schedule_firings SET outcome = 'fired', leader_epoch = $3 "
                    "WHERE schedule_id = $1 AND fire_time = $2",
                    r["schedule_id"],
                    r["fire_time"],
                    epoch,
                )
        return [
            Firing(r["schedule_id"], r["agent_id"], r["input"], r["run_id"], r["overlap"])
            for r in rows
        ]

    async def fired_without_run(self) -> list[Firing]:
        """Firings recorded as fired whose run never started (a crash between the two)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT f.schedule_id, f.run_id, s.agent_id, s.input, s.overlap "
                "FROM schedule_firings f JOIN agent_schedules s USING (schedule_id) "
                "WHERE f.outcome = 'fired' AND f.recorded_at > now() - interval '1 hour' "
                "AND NOT EXISTS (SELECT 1 FROM agent_runs r WHERE r.run_id = f.run_id) "
                "AND s.deleted_at IS NULL ORDER BY f.fire_time LIMIT 100"
            )
        return [
            Firing(r["schedule_id"], r["agent_id"], r["input"], r["run_id"], r["overlap"])
            for r in rows
        ]

    async def mark(self, firing: Firing, outcome: str, lease: LeaderLease, epoch: int) -> None:
        """Change a firing's outcome (a fired run the agent refused as busy)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await lease.still_leader(conn, epoch):
                raise Fenced(f"epoch {epoch} is no longer the lease's")
            await conn.execute(
                "UPDATE schedule_firings SET outcome = $3 WHERE schedule_id = $1 AND run_id = $2",
                firing.schedule_id,
                firing.run_id,
                outcome,
            )
