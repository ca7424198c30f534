"""The subprocess adapter: spawn in a new session, pump output to capped log files, stop.

A governed process runs in its own session and process group, stdin from
/dev/null, with core dumps off (inherited) and open-file, memory and CPU caps
applied with prlimit(2) as it starts (rlimits.py). Its stdout and stderr are
pipes drained into capped log files (log_pump.py).

Exit is observed through a pidfd (no SIGCHLD handler, no watcher thread). The
pipes join the event loop only if the process is still running after
`WATCH_PIPES_AFTER_S` (a pipe holds a MiB, so nothing blocks meanwhile); a
command that ends sooner has its pipes read to EOF right after its exit. When
the leader exits, whatever is left of its process group is killed at once: a
governed command leaves nothing running behind it. A descendant that escaped
the group with setsid() but still holds an output pipe is found through
/proc/*/fd and killed as well; one that also closed its output is beyond what
a process-group sandbox can see (that is the pod's job).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from hive.sandbox.commands.log_pump import LogPump, output_pipe
from hive.sandbox.commands.procfs import pipe_holders
from hive.sandbox.commands.rlimits import ResourceLimits, apply_limits
from hive.sandbox.confinement import KILL_TREE_SIGNAL, Launch, LaunchFailed

# Registering and unregistering two pipes with the event loop costs a short
# command more than reading them once after its exit.
WATCH_PIPES_AFTER_S: Final = 0.002


class SpawnFailed(Exception):
    """The process could not be started (exec failed, bad cwd, ...)."""


class GovernedProcess:
    """One running governed process: its pid/pgid, its two log pumps, its exit."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdout: LogPump,
        stderr: LogPump,
        loop: asyncio.AbstractEventLoop,
        confined: bool = False,
    ) -> None:
        self.popen = popen
        self.confined = confined
        """Started through hive-confine: the launcher owns the tree and kills it on request."""
        self.pid = popen.pid
        self.stdout = stdout
        self.stderr = stderr
        self.loop = loop
        self.exited: asyncio.Future[int] = loop.create_future()
        self._pidfd: int | None = None
        self._watch_pipes = loop.call_later(WATCH_PIPES_AFTER_S, self._start_pumps)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            loop.create_task(self._wait_in_thread())
        else:
            loop.add_reader(self._pidfd, self._on_exit)

    def _start_pumps(self) -> None:
        self.stdout.watch()
        self.stderr.watch()

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        executable: str,
        cwd: Path,
        env: dict[str, str],
        stdout_path: Path,
        stderr_path: Path,
        log_cap: int,
        limits: ResourceLimits,
        launch: Launch | None = None,
    ) -> GovernedProcess:
        """Start `argv` in a new session; raise SpawnFailed when it cannot start.

        `launch` (from `Confinement.launch`) replaces argv and executable with the
        confining launcher in front of them.
        """
        loop = asyncio.get_running_loop()
        out_r, out_w = output_pipe()
        err_r, err_w = output_pipe()
        if launch is None:
            launch = Launch(argv=list(argv), executable=executable)
        try:
            popen = subprocess.Popen(  # argv list, never a shell
                launch.argv,
                executable=launch.executable,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
                close_fds=True,
                pass_fds=launch.pass_fds,
            )
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            launch.abandon()
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise SpawnFailed(f"{type(exc).__name__}: {exc}") from exc
        os.close(out_w)
        os.close(err_w)
        if not launch.confined:
            apply_limits(popen.pid, limits)
        try:
            launch.started()
        except LaunchFailed as exc:
            popen.wait()
            for fd in (out_r, err_r):
                os.close(fd)
            raise SpawnFailed(f"{exc}") from exc
        stdout = LogPump(loop, out_r, stdout_path, log_cap)
        stderr = LogPump(loop, err_r, stderr_path, log_cap)
        return cls(popen, stdout, stderr, loop, confined=launch.confined)

    # -- exit ---------------------------------------------------------------------------------

    def _on_exit(self) -> None:
        code = self.popen.poll()
        if code is None:
            return
        assert self._pidfd is not None
        self.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None
        self._exited(code)

    async def _wait_in_thread(self) -> None:
        code = await asyncio.to_thread(self.popen.wait)
        self._exited(code)

    def _exited(self, code: int) -> None:
        # The leader is gone: nothing of its group may outlive it.
        self.kill_group(signal.SIGKILL)
        # Its pipes are closed on its side: read them out now; one still held open
        # (by a descendant that escaped the group) is watched until `drain` gives up.
        self._watch_pipes.cancel()
        for pump in (self.stdout, self.stderr):
            if not pump.read_available():
                pump.watch()
        if not self.exited.done():
            self.exited.set_result(code)

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: killed by that signal), None while running."""
        return self.exited.result() if self.exited.done() else None

    # -- signals --------------------------------------------------------------------------------

    def kill_group(self, sig: int) -> bool:
        """Signal the whole process group; False when nothing is left in it.

        A confined process's group is its launcher alone: it forwards TERM to the
        whole tree, and SIGKILL is asked of it as KILL_TREE_SIGNAL (killing the
        launcher itself would orphan the tree it guards).
        """
        if self.confined and sig == signal.SIGKILL:
            sig = KILL_TREE_SIGNAL
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    async def stop(self, grace_s: float) -> None:
        """TERM the group, KILL it after `grace_s`, and wait for the leader to be reaped."""
        if self.exited.done():
            return
        self.kill_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.exited), grace_s)
        except TimeoutError:
            self.kill_group(signal.SIGKILL)
            await asyncio.shield(self.exited)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait for both logs to reach EOF; kill escaped pipe holders if they do not."""
        pumps = (self.stdout, self.stderr)
        waiting = [p.closed for p in pumps if not p.closed.done()]
        if not waiting:
            return
        await asyncio.sleep(0)  # EOF usually arrives with the exit: one loop turn reads it
        waiting = [p.closed for p in pumps if not p.closed.done()]
        if not waiting:
            return
        _, pending = await asyncio.wait(waiting, timeout=timeout_s)
        if pending:
            inodes = {i for p in pumps if (i := p.pipe_inode()) is not None}
            for pid in await asyncio.to_thread(pipe_holders, inodes):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.wait([p.closed for p in pumps if not p.closed.done()], timeout=1.0)
        for p in pumps:
            p.close()

    def abandon(self) -> None:
        """Forget the process without waiting (shutdown after a failed stop)."""
        self._watch_pipes.cancel()
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self.stdout.close()
        self.stderr.close()
