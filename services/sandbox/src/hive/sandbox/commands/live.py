"""What every part of GovernedCommands shares: settings, the live commands, statuses.

`CommandsBase` holds the state (the live commands this process supervises, the
records, the journal, the policy) and renders a CommandStatus from a live
command or a stored row; execution, recovery and the queries build on it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import asyncpg

from hive.contracts.api import CommandStatus, Retrieval, StreamPreview
from hive.sandbox.commands.errors import CommandNotFound
from hive.sandbox.commands.journal import PendingSpawn, SpawnJournal
from hive.sandbox.commands.logs import log_size, preview
from hive.sandbox.commands.policy import CommandPolicy
from hive.sandbox.commands.process import GovernedProcess
from hive.sandbox.commands.records import CommandRecords, CommandRow, Finish
from hive.sandbox.commands.rlimits import ResourceLimits, launcher_limits
from hive.sandbox.confinement import Confinement
from hive.sandbox.storage import SandboxStorage

MAX_TIMEOUT_S: Final = 7 * 24 * 3600.0
MAX_POLL_S: Final = 300.0
RECORD_DELAY_S: Final = 0.0
FINAL_STATES: Final = frozenset({"exited", "cancelled", "timed_out", "failed_to_start", "lost"})
# Package managers read config files that could name another index; these point
# them at none (the registry policy checks flags and project files instead).
TOOL_ENV: Final = {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}

SIGNALS: Final = {s.value for s in signal.Signals}
# Database errors worth retrying: the server is away, not the request wrong.
TRANSIENT: Final = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    # "another operation is in progress" on a connection whose session just died.
    asyncpg.InternalClientError,
)


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


class CommandsBase:
    """The state and status rendering the parts of GovernedCommands share."""

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

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait for records of already-answered commands to be written."""
        if self._recording:
            await asyncio.wait(list(self._recording.values()), timeout=timeout_s)

    # -- status rendering ---------------------------------------------------------------

    def _stream(self, path: Path, produced: int, log_omitted: int, url: str) -> StreamPreview:
        if produced == 0:  # nothing written: there is no log file to read
            return StreamPreview(preview="", size_bytes=0, omitted_bytes=0, truncated=False)
        text, shown, _ = preview(path, self.config.preview_bytes, url)
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
            sizes = (log_size(d.stdout), log_size(d.stderr), 0, 0)
        return self._build(row, d.stdout, d.stderr, sizes)

    async def _row(self, command_id: str) -> CommandRow:
        row = await self.records.get(command_id)
        if row is None:
            raise CommandNotFound(command_id)
        return row


def journal_entry(row: CommandRow, end: Finish | None = None) -> PendingSpawn:
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


def new_row(
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
