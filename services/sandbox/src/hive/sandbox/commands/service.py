"""GovernedCommands: start, watch, wait for and cancel governed commands.

The one entry point for running a command in the sandbox, used by the HTTP
controller and in-process by Work Runs. Everything a caller gets back is a
CommandStatus; every refusal is a CommandError (hive.sandbox.commands.errors).

The class is put together from one part per concern, each on `CommandsBase`
(live.py: the shared state and status rendering):

    execution.py  start, supervise, cancel        (CommandExecution)
    recovery.py   open/close, orphans, journal     (CommandRecovery)
    status.py     status, wait, list               (CommandQueries)
"""

from __future__ import annotations

from collections.abc import Sequence

from hive.sandbox.commands.execution import CommandExecution
from hive.sandbox.commands.live import (
    FINAL_STATES,
    MAX_POLL_S,
    MAX_TIMEOUT_S,
    CommandsConfig,
    LiveCommand,
)
from hive.sandbox.commands.policy import CommandPolicy
from hive.sandbox.commands.recovery import CommandRecovery
from hive.sandbox.commands.status import CommandQueries
from hive.sandbox.environment import base_path
from hive.sandbox.storage import SandboxStorage


class GovernedCommands(CommandExecution, CommandRecovery, CommandQueries):
    """The sandbox's governed commands: policy, execution, persistence, status."""


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


__all__ = [
    "FINAL_STATES",
    "MAX_POLL_S",
    "MAX_TIMEOUT_S",
    "CommandsConfig",
    "GovernedCommands",
    "LiveCommand",
    "default_policy",
]
