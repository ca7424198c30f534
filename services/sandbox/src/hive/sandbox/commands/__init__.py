"""Governed commands and process sessions: argv-only, policy-checked, logged, recorded.

Public surface (Work Runs use it in-process; the HTTP controller in
hive.sandbox.api.commands is a thin layer over it):

    GovernedCommands.start(argv, cwd, task_id, timeout_s, attempt_no=None) -> CommandStatus
    GovernedCommands.wait(command_id, timeout_s) / status / cancel / list
"""

from hive.sandbox.commands.errors import CommandError, CommandNotFound, PolicyViolation
from hive.sandbox.commands.policy import CommandPolicy
from hive.sandbox.commands.records import CommandRecords, Instance
from hive.sandbox.commands.rlimits import ResourceLimits
from hive.sandbox.commands.service import (
    FINAL_STATES,
    CommandsConfig,
    GovernedCommands,
    default_policy,
)

__all__ = [
    "FINAL_STATES",
    "CommandError",
    "CommandNotFound",
    "CommandPolicy",
    "CommandRecords",
    "CommandsConfig",
    "GovernedCommands",
    "Instance",
    "PolicyViolation",
    "ResourceLimits",
    "default_policy",
]
