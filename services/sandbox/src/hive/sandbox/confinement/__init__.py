"""The sandbox's name for confined execution, which lives in `hive.contracts.confinement`
(the gateway's local_subprocess pool confines agent runtimes with it too)."""

from hive.contracts.confinement import (
    DEFAULT_EGRESS_PORTS,
    DEFAULT_LAUNCHER,
    DEVICE_RW_PATHS,
    KILL_TREE_SIGNAL,
    REPO_ROOT,
    SYSTEM_READ_PATHS,
    Confinement,
    ConfinementSettings,
    ConfinementStatus,
    ConfinementUnavailable,
    Launch,
    LaunchFailed,
    landlock,
    port_of,
    toolchain_paths,
)

__all__ = [
    "DEFAULT_EGRESS_PORTS",
    "DEFAULT_LAUNCHER",
    "DEVICE_RW_PATHS",
    "KILL_TREE_SIGNAL",
    "REPO_ROOT",
    "SYSTEM_READ_PATHS",
    "Confinement",
    "ConfinementSettings",
    "ConfinementStatus",
    "ConfinementUnavailable",
    "Launch",
    "LaunchFailed",
    "landlock",
    "port_of",
    "toolchain_paths",
]
