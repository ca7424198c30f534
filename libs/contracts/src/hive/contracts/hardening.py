"""Service-process hardening shared by the gateway, sandbox and agent.

A service takes its secrets once: it reads them from the environment into its
settings, then removes them from `os.environ` (nothing it spawns later can
inherit them by accident), and makes itself non-dumpable, so that no core file
is written and `/proc/<pid>/environ`, `/proc/<pid>/mem` and ptrace need
CAP_SYS_PTRACE (which governed processes never have). The environment block the
kernel shows in /proc is the one the process was started with; non-dumpable is
what closes it.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterable

_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4


@functools.cache
def make_non_dumpable() -> bool:
    """PR_SET_DUMPABLE=0 for this process; True when in force (idempotent)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    return bool(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)


def take_secrets(names: Iterable[str]) -> None:
    """Remove these variables from this process's environment (they were read already)."""
    for name in names:
        os.environ.pop(name, None)
