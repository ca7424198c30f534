"""GovernedCommands: start, watch, wait for and cancel governed commands.

The one entry point for running a command in the sandbox, used by the HTTP
controller and in-process by Work Runs. Everything a caller gets back is a
CommandStatus; every refusal is a CommandError (a HiveHTTPError).

A command's life: policy check -> spawn (own session, scrubbed env, rlimits)
-> journaled -> settle window: a command that ends within it is recorded with
one append (CommandStarted + CommandFinished) and returned final; otherwise
CommandStarted is recorded and the command supervised until exit, timeout or
cancel -> leftover group killed, logs drained -> CommandFinished recorded ->
waiters woken. A supervised command turns final in memory only after its
CommandFinished is appended; a settled one answered over HTTP
(`wait_recorded=False`) is journaled first, so a restarted sandbox reports
what the caller saw either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import asyncpg

from hive.contracts.api import CommandStatus, Retrieval, StreamPreview
from hive.contracts.errors import ErrorCode
from hive.contracts.events import CommandState
from hive.contracts.http import HiveHTTPError
from hive.events import EventStoreError
from hive.sandbox.commands import logs
from hive.sandbox.commands.errors import CommandNotFound, PolicyViolation
from hive.sandbox.commands.journal import PendingSpawn, SpawnJournal
from hive.sandbox.commands.policy import CommandPolicy
from hive.sandbox.commands.process import (
    GovernedProcess,
    ResourceLimits,
    SpawnFailed,
    disable_core_dumps,
    launcher_limits,
    process_start_ticks,
    process_started_near,
)
from hive.sandbox.commands.records import (
    CommandRecords,
    CommandRow,
    Finish,
    apply_finish,
    utcnow,
)
from hive.sandbox.confinement import Confinement
from hive.sandbox.environment import base_path, child_env
from hive.sandbox.storage import InvalidId, SandboxStorage, check_id

log = logging.getLogger("hive.sandbox.commands")

MAX_TIMEOUT_S: Final = 7 * 24 * 3600.0
MAX_POLL_S: Final = 300.0
RECORD_DELAY_S: Final = 0.0
FINAL_STATES: Final = frozenset({"exited", "cancelled", "timed_out", "failed_to_start", "lost"})
# Package managers read config files that could name another index; these point
# them at none (the registry policy checks flags and project files instead).
_TOOL_ENV: Final = {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}


@dataclass(frozen=True, slots=True)
class CommandsConfig:
    """The settings GovernedCommands needs (a slice of SandboxSettings)."""

    log_cap_bytes: int = 64 * 1024 * 1024
    preview_bytes: int = 4096
    kill_grace_s: float = 5.0
    default_timeout_s: float = 1800.0
    lease_ttl_s: float = 30.0
    settle_s: float = 0.05
    """How long `start` waits for a command to end on its own before answering `running`.

    A command that ends within it is recorded with one append (CommandStarted
    and CommandFinished together) and `start` returns its final status, which
    saves short commands a commit and their callers a poll."""
    limits: ResourceLimits = field(default_factory=ResourceLimits)


@dataclass(eq=False)
class LiveCommand:
    """A command this process started and still supervises (or just finished)."""

    row: CommandRow
    proc: GovernedProcess | None
    stdout_path: Path
    stderr_path: Path
    done: asyncio.Event = field(default_factory=asyncio.Event)
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str | None = None
    started_mono: float = field(default_factory=time.monotonic)


class GovernedCommands:
    """The sandbox's governed commands: policy, execution, persistence, status."""

    def __init__(
        self,
        *,
        storage: SandboxStorage,
        records: CommandRecords,
        policy: CommandPolicy,
        config: CommandsConfig,
        confinement: Confinement | None = None,
    ) -> None:
        self.storage = storage
        self.confinement = confinement
        """Puts every command behind hive-confine (None: unconfined, for unit tests)."""
        self._launcher_limits = launcher_limits(config.limits)
        self.records = records
        self.policy = policy
        self.config = config
        self.journal = SpawnJournal(storage.commands_root / ".spawn-journal")
        # Task-less commands share one scratch (HOME, TMPDIR, default cwd): making
        # three directories per command costs more than running `true`.
        self.shared_scratch = storage.commands_root / ".scratch"
        # Built once: Path joins are a measurable part of a short command's round trip.
        self._shared_dirs = (
            self.shared_scratch / "work",
            [storage.commands_root],
            self.shared_scratch / "home",
            self.shared_scratch / "tmp",
        )
        self.live: dict[str, LiveCommand] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self._closing = False
        # Records of commands already answered, being written (see `start`).
        self._recording: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Take a lease, turn orphaned `running` commands into `lost`, start heartbeating."""
        self.storage.ensure()
        for d in ("home", "tmp", "work"):
            (self.shared_scratch / d).mkdir(mode=0o700, parents=True, exist_ok=True)
        disable_core_dumps()
        await self.records.register()
        await self.recover_journal()
        self.journal.open()
        await self.reap_orphans()
        self._lease_task = asyncio.create_task(self._lease_loop(), name="commands-lease")

    async def close(self) -> None:
        """Stop every running command (recorded `lost`: the sandbox went away), drop the lease."""
        self._closing = True
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        running = [c for c in self.live.values() if not c.done.is_set()]
        for cmd in running:
            cmd.cancel_reason = "lost:the sandbox shut down while the command ran"
            if cmd.proc is not None:
                self._spawn_task(cmd.proc.stop(min(self.config.kill_grace_s, 2.0)))
        if running:
            await asyncio.wait(
                [asyncio.create_task(c.done.wait()) for c in running],
                timeout=self.config.kill_grace_s + 5,
            )
        await self.flush()
        self.journal.close()
        with contextlib.suppress(Exception):
            await self.records.unregister()
        with contextlib.suppress(Exception):  # a broken connection: the pool's close ends it
            await self.records.close()

    async def _lease_loop(self) -> None:
        interval = max(0.5, self.config.lease_ttl_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.records.heartbeat()
                await self.reap_orphans()
            except (*_TRANSIENT, asyncpg.PostgresError, EventStoreError) as exc:
                # Keep going: the next round retries; a long outage only delays reaping.
                log.warning("commands lease renewal failed: %s", type(exc).__name__)

    async def reap_orphans(self) -> int:
        """Mark commands of dead sandbox processes `lost` (killing their leftovers on this host)."""
        orphans = await self.records.orphans(self.config.lease_ttl_s)
        for row in orphans:
            if (
                row.pid is not None
                and row.pid_start_ticks is not None
                and process_start_ticks(row.pid) == row.pid_start_ticks
            ):
                # Still running on this host without a supervisor: stop it, it is unwatchable.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(row.pid, signal.SIGKILL)
            out = self.storage.command_dir(row.command_id, create=False)
            stdout, stderr = logs.log_size(out.stdout), logs.log_size(out.stderr)
            now = utcnow()
            await self.records.record_finished(
                row.command_id,
                row.stream_id,
                Finish(
                    state="lost",
                    exit_code=None,
                    reason="the sandbox process supervising this command died",
                    finished_at=now,
                    duration_s=(now - row.started_at).total_seconds(),
                    stdout_bytes=max(stdout, row.stdout_bytes),
                    stderr_bytes=max(stderr, row.stderr_bytes),
                    stdout_omitted=row.stdout_omitted,
                    stderr_omitted=row.stderr_omitted,
                ),
            )
        if orphans:
            log.warning("marked %d orphaned command(s) lost", len(orphans))
        await self.records.forget_dead_instances(self.config.lease_ttl_s * 10)
        return len(orphans)

    async def recover_journal(self) -> int:
        """Record spawns a dead predecessor journaled but never recorded, as `lost`."""
        recovered = 0
        for entry in self.journal.read():
            if await self.records.get(entry.command_id) is None:
                if process_started_near(entry.pid, entry.started_at.timestamp()):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(entry.pid, signal.SIGKILL)
                out = self.storage.command_dir(entry.command_id, create=False)
                now = utcnow()
                row = _new_row(
                    entry.command_id, entry.task_id, entry.attempt_no, entry.argv, entry.cwd,
                    entry.timeout_s, self.records.instance.instance_id, entry.started_at,
                )  # fmt: skip
                row.pid = entry.pid
                end = entry.end or Finish(
                    state="lost",
                    exit_code=None,
                    reason="the sandbox process died before recording this command",
                    finished_at=now,
                    duration_s=(now - entry.started_at).total_seconds(),
                    stdout_bytes=logs.log_size(out.stdout),
                    stderr_bytes=logs.log_size(out.stderr),
                    stdout_omitted=0,
                    stderr_omitted=0,
                )
                await self.records.record_started(row, end)
                recovered += 1
        return recovered

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- starting ----------------------------------------------------------------------------

    async def start(
        self,
        argv: Sequence[str],
        cwd: str | Path | None = None,
        task_id: str | None = None,
        timeout_s: float | None = None,
        attempt_no: int | None = None,
        *,
        wait_recorded: bool = True,
    ) -> CommandStatus:
        """Check the policy, spawn, record CommandStarted; the status of the new command.

        A command that ends within the settle window comes back final. With
        `wait_recorded=False` (the HTTP API) such a command is answered as soon as
        its end is journaled, and its record is appended right after; reads on this
        instance wait for it (`flush`), other instances see it a round trip later.
        In-process callers keep the default: their next event on the task's stream
        must come after the command's.
        """
        if self._closing:
            raise HiveHTTPError(503, "unavailable", "the sandbox is shutting down")
        timeout = self._check_timeout(timeout_s)
        if task_id is not None:
            try:
                check_id("task_id", task_id)
            except InvalidId as exc:
                raise PolicyViolation(ErrorCode.VALIDATION_FAILED, str(exc)) from exc
        command_id = uuid.uuid4().hex
        cmd_dirs = self.storage.command_dir(command_id, create=False)  # made on first output
        if task_id is not None:
            task = self.storage.task_dirs(task_id)
            default_cwd, roots, home, tmp = task.repo, [task.root], task.home, task.tmp
            writable = (task.repo, task.scratch)
        else:
            default_cwd, roots, home, tmp = self._shared_dirs
            writable = (self.shared_scratch,)
        resolved = self.policy.check(
            list(argv) if isinstance(argv, tuple) else argv,
            None if cwd is None else str(cwd),
            default_cwd=default_cwd,
            roots=roots,
        )
        env = child_env(home=home, tmpdir=tmp, allow=_TOOL_ENV)
        row = _new_row(
            command_id, task_id, attempt_no, resolved.argv, str(resolved.cwd), timeout,
            self.records.instance.instance_id, utcnow(),
        )  # fmt: skip
        stdout_path, stderr_path = cmd_dirs.stdout, cmd_dirs.stderr
        launch = (
            None
            if self.confinement is None
            else self.confinement.launch(
                resolved.argv,
                executable=resolved.executable,
                writable=writable,
                launcher_args=self._launcher_limits,
            )
        )
        try:
            proc = GovernedProcess.spawn(
                resolved.argv,
                executable=resolved.executable,
                cwd=resolved.cwd,
                env=env,
                stdout_path=stdout_path,
                stderr_path=stderr_path,
                log_cap=self.config.log_cap_bytes,
                limits=self.config.limits,
                launch=launch,
            )
        except SpawnFailed as exc:
            return await self._failed_to_start(row, str(exc))
        row.pid = proc.pid
        cmd = LiveCommand(row, proc, stdout_path, stderr_path)
        self.live[command_id] = cmd
        self.journal.write(_journal_entry(row))
        try:
            # Give the command the settle window to end on its own: then one append
            # records its start and end, and the caller gets its final status.
            settle_s = min(self.config.settle_s, timeout)
            if settle_s > 0 and not proc.exited.done():
                await _settle(proc.exited, settle_s)
            if proc.exited.done():
                await proc.drain()
                end = self._end_for(cmd, proc.exited.result())
                if not wait_recorded:
                    # Journal the end, answer now, append the record right behind.
                    self.journal.write(_journal_entry(row, end))
                    apply_finish(row, end)
                    self._recording[command_id] = asyncio.create_task(self._record_ended(cmd, end))
                    self._finished(cmd)
                    return self._live_status(cmd)
                await self.records.record_started(row, end)
            else:
                # Still running: its start time identifies it to a successor after a crash.
                row.pid_start_ticks = process_start_ticks(proc.pid)
                await self.records.record_started(row)
        except BaseException:
            # Unrecorded means unwatchable after a restart: do not let it run.
            proc.kill_group(signal.SIGKILL)
            self.live.pop(command_id, None)
            self._spawn_task(self._discard(proc))
            self.journal.done(command_id)
            raise
        self.journal.done(command_id)
        cmd.recorded.set()
        if row.state != "running":
            self._finished(cmd)
        else:
            remaining = max(0.0, timeout - (time.monotonic() - cmd.started_mono))
            self._spawn_task(self._supervise(cmd, remaining))
        return self._live_status(cmd)

    async def _record_ended(self, cmd: LiveCommand, end: Finish) -> None:
        """Append the record of a command that was answered already (retrying while the
        database is away; the journal keeps it for a successor meanwhile)."""
        row = cmd.row
        delay = 0.05
        try:
            # Let the answer leave first: one more loop turn puts the append (encoding,
            # sending) after the response was handed to the server (measured under
            # granian). A timer (it was 1 ms) rather landed it in the middle of the
            # caller's next request, on its critical path.
            await asyncio.sleep(RECORD_DELAY_S)
            while True:
                try:
                    await self.records.record_started(row, end)
                    break
                except _TRANSIENT:
                    if self._closing:
                        log.error("command %s stays journaled, not recorded", row.command_id)
                        return
                    log.warning("recording command %s failed; retrying", row.command_id)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self.journal.done(row.command_id)
            cmd.recorded.set()
        except (EventStoreError, asyncpg.PostgresError):
            # Not transient: retrying cannot help. The journal keeps the end for the
            # next start, which records it (or reports the same error in its log).
            log.exception("command %s could not be recorded", row.command_id)
        finally:
            self._recording.pop(row.command_id, None)

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait for records of already-answered commands to be written."""
        if self._recording:
            await asyncio.wait(list(self._recording.values()), timeout=timeout_s)

    @staticmethod
    async def _discard(proc: GovernedProcess) -> None:
        await asyncio.shield(proc.exited)
        await proc.drain(1.0)

    def _check_timeout(self, timeout_s: float | None) -> float:
        if timeout_s is None:
            return self.config.default_timeout_s
        if not isinstance(timeout_s, int | float) or not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise PolicyViolation(
                ErrorCode.VALIDATION_FAILED, f"timeout_s must be in (0, {MAX_TIMEOUT_S:.0f}]"
            )
        return float(timeout_s)

    async def _failed_to_start(self, row: CommandRow, reason: str) -> CommandStatus:
        end = Finish("failed_to_start", None, reason, utcnow(), 0.0, 0, 0, 0, 0)
        await self.records.record_started(row, end)
        return self._status_from_row(row)

    # -- supervising ---------------------------------------------------------------------------

    def _end_for(self, cmd: LiveCommand, code: int) -> Finish:
        """The Finish of a command whose leader exited with `code` (logs drained)."""
        assert cmd.proc is not None
        state: CommandState = "exited"
        reason: str | None = None
        if cmd.cancel_reason is not None:
            kind, _, reason = cmd.cancel_reason.partition(":")
            state = (
                "timed_out" if kind == "timed_out" else "lost" if kind == "lost" else "cancelled"
            )
        elif code < 0 and -code in _SIGNALS:
            reason = f"killed by {signal.Signals(-code).name}"
        return Finish(
            state=state,
            exit_code=code,
            reason=reason,
            finished_at=utcnow(),
            duration_s=round(time.monotonic() - cmd.started_mono, 6),
            stdout_bytes=cmd.proc.stdout.size,
            stderr_bytes=cmd.proc.stderr.size,
            stdout_omitted=cmd.proc.stdout.omitted,
            stderr_omitted=cmd.proc.stderr.omitted,
        )

    async def _supervise(self, cmd: LiveCommand, limit_s: float) -> None:
        proc = cmd.proc
        assert proc is not None
        try:
            try:
                await asyncio.wait_for(asyncio.shield(proc.exited), limit_s)
            except TimeoutError:
                if cmd.cancel_reason is None:
                    assert cmd.row.timeout_s is not None
                    cmd.cancel_reason = f"timed_out:no exit within timeout_s={cmd.row.timeout_s:g}"
                await proc.stop(self.config.kill_grace_s)
            code = proc.exited.result()
            await proc.drain()
            await self._record_finished(cmd, self._end_for(cmd, code))
        finally:
            self._finished(cmd)

    def _finished(self, cmd: LiveCommand) -> None:
        cmd.done.set()
        # Keep finished commands briefly for fast status reads; the row is the truth.
        # The process itself is reaped and its logs closed: drop the Popen, the pumps
        # and their futures now, or a minute of commands keeps them all alive and
        # every full garbage collection walks them (tens of ms at a few hundred/s).
        cmd.proc = None
        asyncio.get_running_loop().call_later(60.0, self._forget, cmd.row.command_id, cmd)

    async def _record_finished(self, cmd: LiveCommand, end: Finish) -> None:
        delay = 0.2
        for attempt in range(8):
            try:
                await self.records.record_finished(cmd.row.command_id, cmd.row.stream_id, end)
                break
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if attempt == 7:
                    log.error("could not record the end of command %s", cmd.row.command_id)
                    break
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        apply_finish(cmd.row, end)

    def _forget(self, command_id: str, cmd: LiveCommand) -> None:
        if self.live.get(command_id) is not cmd or not cmd.done.is_set():
            return
        if not cmd.recorded.is_set():  # its record is still being written: keep serving it
            asyncio.get_running_loop().call_later(60.0, self._forget, command_id, cmd)
            return
        del self.live[command_id]

    # -- status --------------------------------------------------------------------------------

    def _stream(self, path: Path, produced: int, log_omitted: int, url: str) -> StreamPreview:
        if produced == 0:  # nothing written: there is no log file to read
            return StreamPreview(preview="", size_bytes=0, omitted_bytes=0, truncated=False)
        text, shown, _ = logs.preview(path, self.config.preview_bytes, url)
        produced = max(produced, shown)
        omitted = max(0, produced - shown)
        return StreamPreview(
            preview=text,
            size_bytes=produced,
            omitted_bytes=omitted,
            truncated=omitted > 0,
            log_omitted_bytes=log_omitted,
        )

    def _build(
        self, row: CommandRow, stdout: Path, stderr: Path, sizes: tuple[int, int, int, int]
    ) -> CommandStatus:
        base = f"/commands/{row.command_id}/log?stream="
        return CommandStatus(
            command_id=row.command_id,
            task_id=row.task_id,
            argv=row.argv,
            cwd=row.cwd,
            state=row.state,
            exit_code=row.exit_code,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_s=row.duration_s,
            stdout=self._stream(stdout, sizes[0], sizes[2], base + "stdout"),
            stderr=self._stream(stderr, sizes[1], sizes[3], base + "stderr"),
            retrieval=Retrieval(stdout=base + "stdout", stderr=base + "stderr"),
            reason=row.reason,
        )

    def _live_status(self, cmd: LiveCommand) -> CommandStatus:
        proc, row = cmd.proc, cmd.row
        if proc is not None and row.state == "running":
            sizes = (proc.stdout.size, proc.stderr.size, proc.stdout.omitted, proc.stderr.omitted)
        else:
            sizes = (row.stdout_bytes, row.stderr_bytes, row.stdout_omitted, row.stderr_omitted)
        return self._build(row, cmd.stdout_path, cmd.stderr_path, sizes)

    def _status_from_row(self, row: CommandRow) -> CommandStatus:
        d = self.storage.command_dir(row.command_id, create=False)
        sizes = (row.stdout_bytes, row.stderr_bytes, row.stdout_omitted, row.stderr_omitted)
        if row.state == "running":  # another instance runs it: the files are the best count
            sizes = (logs.log_size(d.stdout), logs.log_size(d.stderr), 0, 0)
        return self._build(row, d.stdout, d.stderr, sizes)

    async def _row(self, command_id: str) -> CommandRow:
        row = await self.records.get(command_id)
        if row is None:
            raise CommandNotFound(command_id)
        return row

    async def status(self, command_id: str) -> CommandStatus:
        """The current CommandStatus."""
        cmd = self.live.get(command_id)
        if cmd is not None:
            return self._live_status(cmd)
        return self._status_from_row(await self._row(command_id))

    async def task_of(self, command_id: str) -> str | None:
        """The task a command belongs to (for authorization), or raise CommandNotFound."""
        cmd = self.live.get(command_id)
        if cmd is not None:
            return cmd.row.task_id
        return (await self._row(command_id)).task_id

    async def wait(self, command_id: str, timeout_s: float) -> CommandStatus:
        """Return once the command is final, or after `timeout_s` with it still running."""
        timeout_s = max(0.0, min(float(timeout_s), MAX_POLL_S))
        cmd = self.live.get(command_id)
        if cmd is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cmd.done.wait(), timeout_s)
            if cmd.done.is_set():  # final here means final in the database too
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cmd.recorded.wait(), 5.0)
            return self._live_status(cmd)
        # Not ours (another replica, or before a restart): the row is the truth; poll it.
        deadline = time.monotonic() + timeout_s
        while True:
            row = await self._row(command_id)
            if row.state in FINAL_STATES or time.monotonic() >= deadline:
                return self._status_from_row(row)
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    poll = wait

    async def cancel(self, command_id: str, reason: str | None = None) -> CommandStatus:
        """TERM the process group, KILL it after the grace period; the final status."""
        cmd = self.live.get(command_id)
        if cmd is None:
            row = await self._row(command_id)
            if row.state in FINAL_STATES:
                return self._status_from_row(row)
            raise HiveHTTPError(
                409, ErrorCode.CONFLICT, "the command runs under another sandbox process"
            )
        if not cmd.done.is_set() and cmd.proc is not None:
            if cmd.cancel_reason is None and not cmd.proc.exited.done():
                cmd.cancel_reason = "cancelled:" + (reason or "cancelled on request")
            await cmd.proc.stop(self.config.kill_grace_s)
            await cmd.done.wait()
        return self._live_status(cmd)

    async def list(
        self,
        *,
        state: str | None = None,
        task_id: str | None = None,
        limit: int = 100,
        before: datetime | None = None,
    ) -> list[CommandStatus]:
        """Process sessions, newest first."""
        await self.flush()  # read your writes: answered commands are in the list
        rows = await self.records.list(
            state=state, task_id=task_id, limit=max(1, min(limit, 1000)), before=before
        )
        out = []
        for row in rows:
            cmd = self.live.get(row.command_id)
            out.append(self._live_status(cmd) if cmd is not None else self._status_from_row(row))
        return out

    def log_path(self, command_id: str, stream: str) -> Path:
        """The log file of one stream."""
        return self.storage.command_dir(command_id, create=False).log(stream)


_SIGNALS: Final = {s.value for s in signal.Signals}
# Database errors worth retrying: the server is away, not the request wrong.
_TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


async def _settle(exited: asyncio.Future[int], timeout_s: float) -> None:
    """Wait until `exited` is done or `timeout_s` passed (asyncio.wait for one future, leaner)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout_s, wake)
    exited.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        exited.remove_done_callback(wake)


def _journal_entry(row: CommandRow, end: Finish | None = None) -> PendingSpawn:
    assert row.pid is not None
    return PendingSpawn(
        command_id=row.command_id,
        task_id=row.task_id,
        attempt_no=row.attempt_no,
        argv=row.argv,
        cwd=row.cwd,
        pid=row.pid,
        timeout_s=row.timeout_s,
        started_at=row.started_at,
        end=end,
    )


def _new_row(
    command_id: str,
    task_id: str | None,
    attempt_no: int | None,
    argv: list[str],
    cwd: str,
    timeout_s: float | None,
    instance_id: str,
    started_at: datetime,
) -> CommandRow:
    return CommandRow(
        command_id=command_id,
        task_id=task_id,
        attempt_no=attempt_no,
        stream_id="",
        argv=argv,
        cwd=cwd,
        state="running",
        exit_code=None,
        reason=None,
        pid=None,
        pid_start_ticks=None,
        instance_id=instance_id,
        timeout_s=timeout_s,
        started_at=started_at,
        finished_at=None,
        duration_s=None,
        stdout_bytes=0,
        stderr_bytes=0,
        stdout_omitted=0,
        stderr_omitted=0,
    )


def default_policy(
    command_allowlist: Sequence[str], registry_allowlist: Sequence[str], storage: SandboxStorage
) -> CommandPolicy:
    """The policy for children started with `child_env`'s PATH."""
    return CommandPolicy(
        command_allowlist,
        registry_allowlist,
        search_path=base_path(),
        writable_roots=[storage.root],
    )
