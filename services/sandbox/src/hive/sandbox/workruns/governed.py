"""Attempts run governed commands through the sandbox's one GovernedCommands service.

The same policy as `POST /commands` applies (argv only, no shells, executable
and registry allowlists, cwd inside the task), the same env scrubber, the same
logs and records (CommandStarted/CommandFinished land on the task's stream).
A refusal is not an exception for the backend: it comes back as
`failed_to_start` with the policy's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from hive.sandbox.backends.base import CommandOutcome
from hive.sandbox.commands.errors import CommandError

FINAL = frozenset({"exited", "cancelled", "timed_out", "failed_to_start", "lost"})


def _tail(text: str, n: int = 2000) -> str:
    return text[-n:]


class GovernedCommandRunner:
    """CommandRunner over GovernedCommands (start, then wait until final)."""

    def __init__(self, commands: Any) -> None:
        self.commands = commands

    async def run(
        self,
        *,
        task_id: str,
        attempt_no: int,
        argv: list[str],
        cwd: Path,
        timeout_s: float | None,
        cancelled: asyncio.Event | None = None,
    ) -> CommandOutcome:
        """Run to a final state; cancel the command when `cancelled` is set first."""
        try:
            status = await self.commands.start(
                argv, cwd=cwd, task_id=task_id, timeout_s=timeout_s, attempt_no=attempt_no
            )
        except CommandError as exc:
            return CommandOutcome(
                command_id="",
                state="failed_to_start",
                exit_code=None,
                reason=f"{exc.code}: {exc.detail}",
            )
        while status.state not in FINAL:
            waiter = asyncio.ensure_future(self.commands.wait(status.command_id, 60.0))
            stop = asyncio.ensure_future(cancelled.wait()) if cancelled is not None else None
            done, _ = await asyncio.wait(
                [w for w in (waiter, stop) if w is not None], return_when=asyncio.FIRST_COMPLETED
            )
            if waiter in done:
                status = waiter.result()
                if stop is not None:
                    stop.cancel()
                continue
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            status = await self.commands.cancel(status.command_id, "the attempt was cancelled")
        return CommandOutcome(
            command_id=status.command_id,
            state=status.state,
            exit_code=status.exit_code,
            stdout_tail=_tail(status.stdout.preview),
            stderr_tail=_tail(status.stderr.preview),
            reason=status.reason,
        )
