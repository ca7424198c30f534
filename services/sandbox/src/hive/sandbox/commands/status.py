"""Reading governed commands: the status of one, waiting for one, the list."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from pathlib import Path

from hive.contracts.api import CommandStatus
from hive.sandbox.commands.live import FINAL_STATES, MAX_POLL_S, CommandsBase


class CommandQueries(CommandsBase):
    """Status, wait and list (live commands from memory, others from their rows)."""

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
