"""Persistence of governed commands: events, the `commands` read model, instance leases.

Each command is recorded as CommandStarted / CommandFinished on its task's
Work Run stream (`workrun-<task_id>`, appended with ANY) when that stream
exists, else on `command-<command_id>`. A Work Run stream must begin with
DevTaskCreated, so a command naming a task that has no stream (yet) must not
create one. The `commands` row is written in the same transaction as its
event (an inline projection), so lists and filters never lag the streams.

Every sandbox process holds a lease row in `sandbox_instances`. Running
commands whose instance stopped heartbeating, or whose process is gone from
this host, become `lost`: they can no longer be watched, so they must not look
`running` forever.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import msgspec

from hive.contracts.events import CommandFinished, CommandStarted, CommandState
from hive.events import ANY, EventStore
from hive.events.workrun import stream_id as workrun_stream_id

COMMAND_STREAM_PREFIX: Final = "command-"

_ROW_COLUMNS = (
    "command_id, task_id, attempt_no, stream_id, argv, cwd, state, exit_code, reason, pid, "
    "pid_start_ticks, instance_id, timeout_s, started_at, finished_at, duration_s, "
    "stdout_bytes, stderr_bytes, stdout_omitted, stderr_omitted"
)
_argv_decoder = msgspec.json.Decoder(list[str])
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class CommandRow:
    """One row of the `commands` read model."""

    command_id: str
    task_id: str | None
    attempt_no: int | None
    stream_id: str
    argv: list[str]
    cwd: str
    state: CommandState
    exit_code: int | None
    reason: str | None
    pid: int | None
    pid_start_ticks: int | None
    instance_id: str
    timeout_s: float | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    stdout_bytes: int
    stderr_bytes: int
    stdout_omitted: int
    stderr_omitted: int

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> CommandRow:
        """Decode a fetched row."""
        data = dict(r)
        data["argv"] = _argv_decoder.decode(data["argv"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Instance:
    """This sandbox process, as its lease row names it."""

    instance_id: str
    hostname: str
    pid: int
    root: str

    @classmethod
    def current(cls, root: str) -> Instance:
        """An id unique to this process (host, pid, and a random part for pid reuse)."""
        host = socket.gethostname()
        pid = os.getpid()
        return cls(f"{host}:{pid}:{uuid.uuid4().hex[:8]}", host, pid, root)


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a command, as recorded."""

    state: CommandState
    exit_code: int | None
    reason: str | None
    finished_at: datetime
    duration_s: float | None
    stdout_bytes: int
    stderr_bytes: int
    stdout_omitted: int
    stderr_omitted: int


def _pid_alive(pid: int) -> bool:
    """A running process (a zombie nobody reaped, e.g. under a non-reaping init, is dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


class CommandRecords:
    """Queries and appends for governed commands (the only module that writes `commands`)."""

    def __init__(self, store: EventStore, instance: Instance, *, sync_commit: bool = False) -> None:
        self.store = store
        self.pool = store.pool
        self.instance = instance
        self.sync_commit = sync_commit
        self._workrun_streams: set[str] = set()  # existing Work Run streams never go away

    # -- instance lease ----------------------------------------------------------------------

    async def register(self) -> None:
        """Insert this process's lease row."""
        i = self.instance
        async with self.pool.acquire() as c:
            await c.execute(
                "INSERT INTO sandbox_instances (instance_id, hostname, pid, root) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO UPDATE "
                "SET heartbeat_at = now()",
                i.instance_id,
                i.hostname,
                i.pid,
                i.root,
            )

    async def heartbeat(self) -> None:
        """Renew this process's lease."""
        async with self.pool.acquire() as c:
            await c.execute(
                "UPDATE sandbox_instances SET heartbeat_at = now() WHERE instance_id = $1",
                self.instance.instance_id,
            )

    async def unregister(self) -> None:
        """Drop this process's lease row (clean shutdown)."""
        async with self.pool.acquire() as c:
            await c.execute(
                "DELETE FROM sandbox_instances WHERE instance_id = $1", self.instance.instance_id
            )

    async def orphans(self, lease_ttl_s: float) -> list[CommandRow]:
        """Running commands of instances that are gone: lease expired, or dead on this host."""
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                f"SELECT {', '.join('c.' + col.strip() for col in _ROW_COLUMNS.split(','))}, "
                "i.hostname AS i_host, i.pid AS i_pid, "
                "(i.instance_id IS NULL OR i.heartbeat_at < now() - make_interval(secs => $2)) "
                "AS expired "
                "FROM commands c LEFT JOIN sandbox_instances i USING (instance_id) "
                "WHERE c.state = 'running' AND c.instance_id <> $1",
                self.instance.instance_id,
                lease_ttl_s,
            )
        out: list[CommandRow] = []
        for r in rows:
            data = dict(r)
            host, pid, expired = data.pop("i_host"), data.pop("i_pid"), data.pop("expired")
            same_host_dead = host == self.instance.hostname and not _pid_alive(pid)
            if expired or same_host_dead:
                data["argv"] = _argv_decoder.decode(data["argv"])
                out.append(CommandRow(**data))
        return out

    async def forget_dead_instances(self, lease_ttl_s: float) -> None:
        """Drop lease rows that expired long ago (their commands are already lost)."""
        async with self.pool.acquire() as c:
            await c.execute(
                "DELETE FROM sandbox_instances WHERE heartbeat_at < now() - make_interval(secs => $1) "
                "AND NOT EXISTS (SELECT 1 FROM commands WHERE state = 'running' "
                "AND commands.instance_id = sandbox_instances.instance_id)",
                lease_ttl_s,
            )

    # -- writing ---------------------------------------------------------------------------------

    async def _stream_for(self, c: asyncpg.Connection, command_id: str, task_id: str | None) -> str:
        if task_id is not None:
            sid = workrun_stream_id(task_id)
            if sid in self._workrun_streams:
                return sid
            if await c.fetchval("SELECT EXISTS (SELECT 1 FROM streams WHERE stream_id = $1)", sid):
                self._workrun_streams.add(sid)
                return sid
        return COMMAND_STREAM_PREFIX + command_id

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A write transaction on a pooled connection, begun in one round trip.

        Asynchronous commit (unless configured otherwise): the transaction is
        visible to every reader at once, so a *sandbox* crash loses nothing; only a
        crash of PostgreSQL itself can drop the last few hundred ms of command
        records, and any later synchronous commit (every Work Run transition)
        flushes them, since WAL is flushed in order. Waiting for the fsync would
        double the cost of a short command's round trip.
        """
        begin = "BEGIN" if self.sync_commit else "BEGIN; SET LOCAL synchronous_commit TO off"
        async with self.pool.acquire() as c:
            await c.execute(begin)
            try:
                yield c
            except BaseException:
                if not c.is_closed():
                    # On cancellation the pool's reset on release rolls back instead.
                    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                        await c.execute("ROLLBACK")
                raise
            await c.execute("COMMIT")

    async def record_started(
        self,
        row: CommandRow,
        end: Finish | None = None,
        *,
        settle: Callable[[], Awaitable[Finish | None]] | None = None,
    ) -> str:
        """Record a started command (and its end, if known) in one transaction.

        `end` records a command that ended before it was recorded. `settle`, awaited
        inside the transaction once CommandStarted is appended, lets the caller
        overlap the database round trips with the command's run: it returns the
        Finish of a command that ended meanwhile, or None. Keep it short: an open
        write transaction holds back every global reader (see hive.events.store).
        """
        started = CommandStarted(
            command_id=row.command_id,
            task_id=row.task_id,
            attempt_no=row.attempt_no,
            argv=row.argv,
            cwd=row.cwd,
            pid=row.pid,
            started_at=row.started_at,
        )
        async with self._transaction() as c:
            row.stream_id = await self._stream_for(c, row.command_id, row.task_id)
            if end is None and settle is not None:
                await self.store.append(row.stream_id, [started], ANY, conn=c)
                end = await settle()
                events: list[CommandStarted | CommandFinished] = []
            else:
                events = [started]
            if end is not None:
                events.append(_finished_event(row.command_id, end))
                apply_finish(row, end)
            if events:
                await self.store.append(row.stream_id, events, ANY, conn=c)
            await c.execute(
                f"INSERT INTO commands ({_ROW_COLUMNS}) VALUES "
                "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
                "$17, $18, $19, $20)",
                row.command_id,
                row.task_id,
                row.attempt_no,
                row.stream_id,
                _encoder.encode(row.argv),
                row.cwd,
                row.state,
                row.exit_code,
                row.reason,
                row.pid,
                row.pid_start_ticks,
                row.instance_id,
                row.timeout_s,
                row.started_at,
                row.finished_at,
                row.duration_s,
                row.stdout_bytes,
                row.stderr_bytes,
                row.stdout_omitted,
                row.stderr_omitted,
            )
        return row.stream_id

    async def record_finished(self, command_id: str, stream_id: str, end: Finish) -> bool:
        """Mark a running command final and append CommandFinished; False if it already was."""
        event = _finished_event(command_id, end)
        async with self._transaction() as c:
            # The conditional update is the guard: two replicas reaping the same orphan, or
            # a reaper racing the owner, record exactly one CommandFinished.
            updated = await c.fetchval(
                "UPDATE commands SET state = $2, exit_code = $3, reason = $4, finished_at = $5, "
                "duration_s = $6, stdout_bytes = $7, stderr_bytes = $8, stdout_omitted = $9, "
                "stderr_omitted = $10 WHERE command_id = $1 AND state = 'running' "
                "RETURNING true",
                command_id,
                end.state,
                end.exit_code,
                end.reason,
                end.finished_at,
                end.duration_s,
                end.stdout_bytes,
                end.stderr_bytes,
                end.stdout_omitted,
                end.stderr_omitted,
            )
            if not updated:
                return False
            await self.store.append(stream_id, [event], ANY, conn=c)
        return True

    # -- reading -----------------------------------------------------------------------------------

    async def get(self, command_id: str) -> CommandRow | None:
        """One command's row."""
        async with self.pool.acquire() as c:
            r = await c.fetchrow(
                f"SELECT {_ROW_COLUMNS} FROM commands WHERE command_id = $1", command_id
            )
        return None if r is None else CommandRow.from_record(r)

    async def list(
        self,
        *,
        state: str | None = None,
        task_id: str | None = None,
        limit: int = 100,
        before: datetime | None = None,
    ) -> list[CommandRow]:
        """Newest first, filtered by state and task."""
        args: list[Any] = [state, task_id, before, limit]
        async with self.pool.acquire() as c:
            rows = await c.fetch(
                f"SELECT {_ROW_COLUMNS} FROM commands "
                "WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR task_id = $2) "
                "AND ($3::timestamptz IS NULL OR started_at < $3) "
                "ORDER BY started_at DESC LIMIT $4",
                *args,
            )
        return [CommandRow.from_record(r) for r in rows]


def utcnow() -> datetime:
    """Timezone-aware now."""
    return datetime.now(UTC)


def _finished_event(command_id: str, end: Finish) -> CommandFinished:
    return CommandFinished(
        command_id=command_id,
        state=end.state,
        exit_code=end.exit_code,
        reason=end.reason,
        stdout_bytes=end.stdout_bytes,
        stderr_bytes=end.stderr_bytes,
        finished_at=end.finished_at,
        duration_s=end.duration_s,
    )


def apply_finish(row: CommandRow, end: Finish) -> None:
    """Copy a Finish onto a row (in memory)."""
    row.state = end.state
    row.exit_code = end.exit_code
    row.reason = end.reason
    row.finished_at = end.finished_at
    row.duration_s = end.duration_s
    row.stdout_bytes = end.stdout_bytes
    row.stderr_bytes = end.stderr_bytes
    row.stdout_omitted = end.stdout_omitted
    row.stderr_omitted = end.stderr_omitted
