"""Resource limits of a governed process: open files, memory, CPU; core dumps always off.

Applied with prlimit(2) right after the spawn, or handed to the confining
launcher (hive-confine) to set between fork and exec.
"""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """rlimits of a governed process (core dumps are always off)."""

    nofile: int = 4096
    memory_bytes: int | None = None
    cpu_s: int | None = None


def disable_core_dumps() -> None:
    """Core size 0 for this process, and so for every child it spawns (inherited at fork).

    Set once on the sandbox itself instead of between fork and exec: a
    `preexec_fn` forces a full fork of this process (about 6 ms here) where
    vfork takes well under one. A sandbox core dump could hold secrets anyway.
    """
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limit_values(limits: ResourceLimits) -> list[tuple[int, tuple[int, int]]]:
    """The rlimits of a governed process: (resource, (soft, hard)) pairs."""
    hard = _NOFILE_HARD
    n = limits.nofile if hard == resource.RLIM_INFINITY else min(limits.nofile, hard)
    caps = [(resource.RLIMIT_NOFILE, (n, n)), (resource.RLIMIT_CORE, (0, 0))]
    if limits.memory_bytes:
        caps.append((resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes)))
    if limits.cpu_s:
        caps.append((resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5)))
    return caps


def launcher_limits(limits: ResourceLimits) -> list[str]:
    """The same caps as hive-confine arguments: it sets them between fork and exec."""
    out: list[str] = []
    for which, (soft, hard) in limit_values(limits):
        out += ["--rlimit", f"{which}:{soft}:{hard}"]
    return out


def apply_limits(pid: int, limits: ResourceLimits) -> None:
    """Cap open files and, when configured, memory and CPU of a just-started process.

    Applied with prlimit(2) right after the spawn returns (Popen returns once the
    child has exec'd), so the target runs its first instructions (the dynamic
    loader) before the caps land; that window cannot open a meaningful number
    of files or allocate a meaningful amount of memory.
    """
    for which, value in limit_values(limits):
        with contextlib.suppress(ProcessLookupError):  # already gone: nothing to cap
            resource.prlimit(pid, which, value)


# The sandbox never changes its own open-files limit: read it once, not per spawn.
_NOFILE_HARD: Final = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
