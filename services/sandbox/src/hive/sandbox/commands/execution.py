"""Running a governed command: start, supervise until exit, timeout or cancel, record.

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
import logging
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from hive.contracts.api import CommandStatus
from hive.contracts.errors import ErrorCode
from hive.contracts.events import CommandState
from hive.contracts.retries import backoff
from hive.events import EventStoreError
from hive.sandbox.commands.errors import CommandElsewhere, CommandsClosing, PolicyViolation
from hive.sandbox.commands.live import (
    FINAL_STATES,
    MAX_TIMEOUT_S,
    RECORD_DELAY_S,
    SIGNALS,
    TOOL_ENV,
    TRANSIENT,
    CommandsBase,
    LiveCommand,
    journal_entry,
    new_row,
)
from hive.sandbox.commands.process import GovernedProcess, SpawnFailed
from hive.sandbox.commands.procfs import process_start_ticks
from hive.sandbox.commands.records import CommandRow, Finish, apply_finish, utcnow
from hive.sandbox.environment import child_env
from hive.sandbox.storage import InvalidId, check_id

log = logging.getLogger("hive.sandbox.commands")
RECORD_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a command's end record is retried on (eight tries, 0.2 s doubling to 5 s)."""


class CommandExecution(CommandsBase):
    """Start, supervise and cancel the commands this process runs."""

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
            raise CommandsClosing("the sandbox is shutting down")
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
            writable: tuple[Path, ...] = (task.repo, task.scratch)
        else:
            default_cwd, roots, home, tmp = self._shared_dirs
            writable = (self.shared_scratch,)
        resolved = self.policy.check(
            list(argv) if isinstance(argv, tuple) else argv,
            None if cwd is None else str(cwd),
            default_cwd=default_cwd,
            roots=roots,
        )
        env = child_env(home=home, tmpdir=tmp, allow=TOOL_ENV)
        row = new_row(
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
        self.journal.write(journal_entry(row))
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
                    self.journal.write(journal_entry(row, end))
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
        try:
            # Let the answer leave first: one more loop turn puts the append (encoding,
            # sending) after the response was handed to the server (measured under
            # granian). A timer (it was 1 ms) rather landed it in the middle of the
            # caller's next request, on its critical path.
            await asyncio.sleep(RECORD_DELAY_S)
            try:
                async for attempt in backoff(
                    TRANSIENT,
                    first_s=0.05,
                    max_s=5.0,
                    give_up=lambda: self._closing,
                    on_retry=lambda _exc, _delay: log.warning(
                        "recording command %s failed; retrying", row.command_id
                    ),
                ):
                    with attempt:
                        await self.records.record_started(row, end)
            except TRANSIENT:  # closing: the journal hands it to the next start
                log.error("command %s stays journaled, not recorded", row.command_id)
                return
            self.journal.done(row.command_id)
            cmd.recorded.set()
        except (EventStoreError, asyncpg.PostgresError):
            # Not transient: retrying cannot help. The journal keeps the end for the
            # next start, which records it (or reports the same error in its log).
            log.exception("command %s could not be recorded", row.command_id)
        finally:
            self._recording.pop(row.command_id, None)

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
        elif code < 0 and -code in SIGNALS:
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
        try:
            async for attempt in backoff(RECORD_ERRORS, first_s=0.2, max_s=5.0, attempts=8):
                with attempt:
                    await self.records.record_finished(cmd.row.command_id, cmd.row.stream_id, end)
        except RECORD_ERRORS:
            log.error("could not record the end of command %s", cmd.row.command_id)
        apply_finish(cmd.row, end)

    def _forget(self, command_id: str, cmd: LiveCommand) -> None:
        if self.live.get(command_id) is not cmd or not cmd.done.is_set():
            return
        if not cmd.recorded.is_set():  # its record is still being written: keep serving it
            asyncio.get_running_loop().call_later(60.0, self._forget, command_id, cmd)
            return
        del self.live[command_id]

    async def cancel(self, command_id: str, reason: str | None = None) -> CommandStatus:
        """TERM the process group, KILL it after the grace period; the final status."""
        cmd = self.live.get(command_id)
        if cmd is None:
            row = await self._row(command_id)
            if row.state in FINAL_STATES:
                return self._status_from_row(row)
            raise CommandElsewhere("the command runs under another sandbox process")
        if not cmd.done.is_set() and cmd.proc is not None:
            if cmd.cancel_reason is None and not cmd.proc.exited.done():
                cmd.cancel_reason = "cancelled:" + (reason or "cancelled on request")
            await cmd.proc.stop(self.config.kill_grace_s)
            await cmd.done.wait()
        return self._live_status(cmd)


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
