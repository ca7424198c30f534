"""Helpers of the Codex e2e tests: find the running Codex, read its /proc view, build patches."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.sandbox.workruns.runs import events
from tests.support.deadline import wait_for


def apply_patch(*ops: str) -> str:
    """An apply_patch envelope around `ops` (Codex's patch grammar)."""
    return "*** Begin Patch\n" + "".join(ops) + "*** End Patch\n"


def codex_pid(http: httpx.Client, task_id: str, attempt_no: int = 1) -> int:
    """The pid of the attempt's Codex process, from its CommandStarted record."""

    def probe() -> int | None:
        for e in events(http, task_id):
            p = e["payload"]
            if (
                e["event_type"] == "CommandStarted"
                and p.get("attempt_no") == attempt_no
                and p.get("pid")
                and p["argv"][1:2] == ["exec"]
            ):
                return int(p["pid"])
        return None

    return governed_pid(int(wait_for("the Codex process", probe)))


def governed_pid(pid: int) -> int:
    """The governed process behind a recorded pid: a confined process is recorded by its
    launcher (hive-confine), whose one child is the program itself."""

    def child() -> int | None:
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            return None
        if not argv0.endswith(b"hive-confine"):
            return pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if not children:
            return None
        grandchild = int(children[0])
        # The child is the launcher's fork until it has exec'd the program.
        exe = Path(f"/proc/{grandchild}/cmdline").read_bytes().split(b"\0", 1)[0]
        return None if exe.endswith(b"hive-confine") else grandchild

    return int(wait_for("the governed process behind its launcher", child))


def proc_environ(pid: int) -> dict[str, str]:
    """The environment a live process was started with."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def proc_cmdline(pid: int) -> list[str]:
    """The argv of a live process."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def tree(root: int) -> set[int]:
    """`root` and its live descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] not in ("Z", "X"):
                parents[int(entry)] = int(fields[1])
    found = {root} if root in parents else set()
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def event_types(http: httpx.Client, task_id: str) -> list[str]:
    """The event types of a task's stream, in order."""
    return [e["event_type"] for e in events(http, task_id)]
