"""Persistence of governed commands: events, the `commands` read model, instance leases.

Each command is recorded as CommandStarted / CommandFinished on its task's
Work Run stream (`workrun-<task_id>`, appended with ANY) when that stream
exists, else on `command-<command_id>`. A Work Run stream must begin with
DevTaskCreated, so a command naming a task that has no stream (yet) must not
create one. The `commands` row is written by a trigger on `events` in the
statement that appends the event (migration 0005), so lists and filters never
lag the streams and recording a command costs one round trip.

Command records are audit data: by default each append waits for its WAL
flush (HIVE_SANDBOX_COMMAND_SYNC_COMMIT=true). Turned off, the pool's sessions
use asynchronous commit (see `create_commands_pool`): an append is still
visible to every reader at once, so a *sandbox* crash loses nothing; only a
crash of PostgreSQL itself can drop the last few hundred ms of command
records. Appends run on one connection kept for them (`_append`).

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from hive.contracts.events import CommandFinished, CommandStarted, CommandState
from hive.events import ANY, EventStore, NewEvent
from hive.events.store import init_connection
from hive.sandbox.workruns.state import stream_id as workrun_stream_id

COMMAND_STREAM_PREFIX: Final = "command-"
# SQLSTATE raised by the projection trigger for a second CommandFinished (migration 0005).
ALREADY_FINISHED: Final = "HC001"

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

    def __init__(self, store: EventStore, instance: Instance) -> None:
        self.store = store
        self.pool = store.pool
        self.instance = instance
        self._workrun_streams: set[str] = set()  # existing Work Run streams never go away
        # A pool connection kept for appends (see `_append`), and whether one is on it.
        self._writer: PoolConnectionProxy | None = None
        self._writer_busy = False

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
                "WHERE c.state = 'running' AND c.instance_id IS NOT NULL "
                "AND c.instance_id <> $1",
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

    async def close(self) -> None:
        """Hand the appends' connection back to the pool (call before closing the pool)."""
        conn, self._writer = self._writer, None
        if conn is not None:
            await self.pool.release(conn)

    # -- writing ---------------------------------------------------------------------------------

    async def _append(self, stream_id: str, events: list[NewEvent]) -> None:
        """Append with ANY on the connection kept for command records (pooled when it is busy).

        Every command ends in one append; acquiring and releasing a pool
        connection around it (the release runs as a task of its own) costs a short
        command about as much client-side CPU as the append itself. The kept
        connection commits each append on its own, as a pooled one would.
        """
        if self._writer_busy:
            await self.store.append(stream_id, events, ANY)
            return
        self._writer_busy = True
        try:
            if self._writer is None:
                self._writer = await self.pool.acquire()
            conn = self._writer
            try:
                await self.store.append(stream_id, events, ANY, conn=conn)
            except BaseException:
                # Broken, cancelled mid-statement or merely refused: the pool knows how to
                # reset or replace a connection, so give it back and take a fresh one next time.
                self._writer = None
                with contextlib.suppress(Exception):
                    await self.pool.release(conn)
                raise
        finally:
            self._writer_busy = False

    async def _stream_for(self, command_id: str, task_id: str | None) -> str:
        if task_id is not None:
            sid = workrun_stream_id(task_id)
            if sid in self._workrun_streams:
                return sid
            if await self.store.stream_version(sid) > 0:
                self._workrun_streams.add(sid)
                return sid
        return COMMAND_STREAM_PREFIX + command_id

    async def record_started(self, row: CommandRow, end: Finish | None = None) -> str:
        """Append CommandStarted (with CommandFinished when `end` is known); the stream id.

        One statement: the `commands` row is written by the database's projection
        trigger inside the same append (migration 0005).
        """
        row.stream_id = await self._stream_for(row.command_id, row.task_id)
        started = CommandStarted(
            command_id=row.command_id,
            task_id=row.task_id,
            attempt_no=row.attempt_no,
            argv=row.argv,
            cwd=row.cwd,
            pid=row.pid,
            started_at=row.started_at,
        )
        meta = {
            "instance_id": row.instance_id,
            "pid_start_ticks": row.pid_start_ticks,
            "timeout_s": row.timeout_s,
        }
        events = [NewEvent(started, metadata=meta)]
        if end is not None:
            events.append(_finished(row.command_id, end))
        await self._append(row.stream_id, events)
        if end is not None:
            apply_finish(row, end)
        return row.stream_id

    async def record_finished(self, command_id: str, stream_id: str, end: Finish) -> bool:
        """Append CommandFinished; False when the command had already finished (nothing written)."""
        try:
            await self._append(stream_id, [_finished(command_id, end)])
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == ALREADY_FINISHED:
                return False
            raise
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


def _finished(command_id: str, end: Finish) -> NewEvent:
    event = CommandFinished(
        command_id=command_id,
        state=end.state,
        exit_code=end.exit_code,
        reason=end.reason,
        stdout_bytes=end.stdout_bytes,
        stderr_bytes=end.stderr_bytes,
        finished_at=end.finished_at,
        duration_s=end.duration_s,
    )
    meta = {"stdout_omitted": end.stdout_omitted, "stderr_omitted": end.stderr_omitted}
    return NewEvent(event, metadata=meta)


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


async def create_commands_pool(dsn: str, *, sync_commit: bool = True) -> asyncpg.Pool:
    """A small pool for command records (the store's codecs; asynchronous commit on request)."""
    settings = {"plan_cache_mode": "force_generic_plan"}
    if not sync_commit:
        settings["synchronous_commit"] = "off"
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=4,
        init=init_connection,
        reset=_keep_session,
        server_settings=settings,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """No reset round trip on release: command records leave no session state behind."""
