"""Recovering governed commands: what a dead sandbox process left behind.

On open, spawns a dead predecessor journaled but never recorded are recorded
`lost`, and so (from then on, every lease renewal) are `running` commands of
sandbox instances that stopped heartbeating: they can no longer be watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import asyncpg

from hive.events import EventStoreError
from hive.sandbox.commands.live import TRANSIENT, CommandsBase, new_row
from hive.sandbox.commands.logs import log_size
from hive.sandbox.commands.procfs import process_start_ticks, process_started_near
from hive.sandbox.commands.records import Finish, utcnow
from hive.sandbox.commands.rlimits import disable_core_dumps

log = logging.getLogger("hive.sandbox.commands")


class CommandRecovery(CommandsBase):
    """The instance lease, the spawn journal and orphaned commands."""

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
            except (*TRANSIENT, asyncpg.PostgresError, EventStoreError) as exc:
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
            stdout, stderr = log_size(out.stdout), log_size(out.stderr)
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
                row = new_row(
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
                    stdout_bytes=log_size(out.stdout),
                    stderr_bytes=log_size(out.stderr),
                    stdout_omitted=0,
                    stderr_omitted=0,
                )
                await self.records.record_started(row, end)
                recovered += 1
        return recovered
