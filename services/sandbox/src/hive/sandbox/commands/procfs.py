"""What /proc tells about processes: a pid's start time, who holds a pipe.

Used to tell a live governed process from a reused pid after a restart, and to
find descendants that escaped a process group but still hold its output pipes.
"""

from __future__ import annotations

import os


def process_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: tells a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: fields restart after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_started_near(pid: int, when: float, tolerance_s: float = 5.0) -> bool:
    """Whether `pid` is a live process started within `tolerance_s` of the epoch time `when`.

    Identifies a journaled child without reading /proc at spawn time (that read
    contends with the exec in progress): pid reuse within seconds of the
    original spawn is the only way to be fooled.
    """
    ticks = process_start_ticks(pid)
    if ticks is None:
        return False
    try:
        with open("/proc/stat", "rb") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError):
        return False
    started = btime + ticks / os.sysconf("SC_CLK_TCK")
    return abs(started - when) <= tolerance_s


def pipe_holders(inodes: set[int]) -> list[int]:
    """Pids (other than ours) holding any of these pipes open."""
    targets = {f"pipe:[{i}]" for i in inodes}
    me = os.getpid()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = os.scandir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        with fds:
            for fd in fds:
                try:
                    if os.readlink(fd.path) in targets:
                        found.append(int(entry.name))
                        break
                except OSError:
                    continue
    return found
