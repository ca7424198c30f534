"""Run the Codex CLI as a governed subprocess and stop it, with every descendant.

Codex starts in its own process group (`start_new_session`), stdin is
/dev/null (`codex exec` blocks forever on an open stdin pipe), stdout is the
JSONL pipe and stderr goes to a log file. Codex runs each shell command in a
new session of its own (its Linux sandbox helper calls setsid), so signalling
Codex's process group alone would miss them: `stop` snapshots the process tree
from /proc first, TERMs the group and every descendant, waits up to the grace
period, then KILLs whatever of them is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from hive.sandbox.confinement import Launch, LaunchFailed

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, starttime) of a live pid, None when it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of `root` as {pid: starttime} (one /proc scan)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is None:
            continue
        children.setdefault(st[0], []).append(int(entry.name))
        starts[int(entry.name)] = st[1]
    found: dict[int, int] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found[child] = starts[child]
                stack.append(child)
    return found


def _signal_tree(pgid: int | None, pids: Mapping[int, int], sig: signal.Signals) -> None:
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid, start in pids.items():
        st = _stat(pid)
        if st is None or st[1] != start:  # gone, or the pid was reused
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def alive(pids: Mapping[int, int]) -> list[int]:
    """The pids of `pids` that still run (same start time: not a reused pid)."""
    out = []
    for pid, start in pids.items():
        st = _stat(pid)
        if st is not None and st[1] == start and not _is_zombie(pid):
            out.append(pid)
    return out


def _is_zombie(pid: int) -> bool:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return raw[raw.rindex(")") + 2 :].split()[0] in ("Z", "X")


class CodexProcess:
    """One running `codex exec`."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.stopped_by: str | None = None
        """`cancelled` or `timed_out` once `stop` was called."""
        self.known: dict[int, int] = {}
        """Descendants seen so far ({pid: starttime}), so orphans can be found after Codex exits."""

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        stderr_log: Path,
        launch: Launch | None = None,
    ) -> CodexProcess:
        """Start Codex in its own process group (OSError when it cannot start).

        `launch` (from `Confinement.launch`) puts the confining launcher in front.
        """
        if launch is None:
            launch = Launch(argv=list(argv), executable=argv[0])
        stderr_log.parent.mkdir(parents=True, exist_ok=True)
        err = os.open(stderr_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                pass_fds=launch.pass_fds,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=dict(env),
                cwd=str(cwd),
                start_new_session=True,
                limit=16 * 1024 * 1024,  # one JSONL event can carry a large command output
            )
        except BaseException:
            launch.abandon()
            raise
        finally:
            os.close(err)
        try:
            launch.started()
        except LaunchFailed:
            await proc.wait()
            raise
        return cls(proc)

    @property
    def stdout(self) -> asyncio.StreamReader:
        """Codex's JSONL event stream."""
        assert self.proc.stdout is not None
        return self.proc.stdout

    async def wait(self) -> int:
        """The exit code (negative: killed by that signal)."""
        return await self.proc.wait()

    def track(self) -> None:
        """Remember Codex's current descendants (called as commands start)."""
        if self.proc.returncode is None:
            self.known |= descendants(self.pid)

    async def stop(self, why: str | None, grace_s: float) -> None:
        """TERM Codex, its group and its descendants; KILL what is left after `grace_s`.

        `why` (`cancelled`, `timed_out`) is recorded; None only cleans up
        leftovers of a Codex that already exited.
        """
        if self.stopped_by is None:
            self.stopped_by = why
        tree = dict(self.known)
        if self.proc.returncode is None:  # after exit the pid may belong to someone else
            tree |= descendants(self.pid)
        own = _stat(self.pid)
        if own is not None and self.proc.returncode is None:
            tree[self.pid] = own[1]
        # The group id is only certain while Codex (its leader) is unreaped; after that,
        # leftovers are signalled one by one (pid plus start time, never a reused pid).
        group = self.pid if self.proc.returncode is None else None
        _signal_tree(group, tree, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline:
            if self.proc.returncode is not None and not alive(tree):
                return
            await asyncio.sleep(0.05)
        # Whatever is left, and anything forked meanwhile, gets KILL.
        if self.proc.returncode is None:
            tree |= descendants(self.pid)
        _signal_tree(self.pid if self.proc.returncode is None else None, tree, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(self.proc.wait(), timeout=5)
