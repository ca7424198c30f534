"""The subprocess adapter: spawn in a new session, pump output to capped log files, stop.

A governed process runs in its own session and process group, stdin from
/dev/null, with core dumps off (inherited) and open-file, memory and CPU caps
applied with prlimit(2) as it starts. Its stdout and
stderr are pipes that the event loop drains straight into log files in
bounded chunks, so output never accumulates in the sandbox's memory however
much a command writes. Past the per-stream cap the log says so once, the rest
is counted and dropped.

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
import fcntl
import os
import resource
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hive.sandbox.confinement import KILL_TREE_SIGNAL, Launch, LaunchFailed

READ_CHUNK: Final = 1 << 20
PIPE_SIZE: Final = 1 << 20
# Registering and unregistering two pipes with the event loop costs a short
# command more than reading them once after its exit.
WATCH_PIPES_AFTER_S: Final = 0.002
_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", 1031)


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


class LogPump:
    """Drains one pipe into a log file, keeping at most `cap` bytes of output."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_fd: int, path: Path, cap: int) -> None:
        self.loop = loop
        self.fd = read_fd
        self.path = path
        self.cap = cap
        self.size = 0
        """Bytes the process wrote to this stream."""
        self.kept = 0
        """Bytes of output written to the log (at most `cap`)."""
        self.closed: asyncio.Future[None] = loop.create_future()
        # Opened on the first byte: a silent command costs no file (nor directory).
        self._file: int | None = None
        self.write_error: str | None = None
        self._watched = False
        os.set_blocking(read_fd, False)

    def watch(self) -> None:
        """Drain the pipe from the event loop as output arrives."""
        if not self._watched and not self.closed.done():
            self._watched = True
            self.loop.add_reader(self.fd, self._on_readable)

    def read_available(self) -> bool:
        """Read what the pipe holds now; True once it reached EOF (and is closed).

        Bounded: a writer that keeps the pipe full is left to the event loop.
        """
        for _ in range(2 * PIPE_SIZE // READ_CHUNK + 1):
            if self.closed.done() or not self._read_once():
                break
        return self.closed.done()

    def pipe_inode(self) -> int | None:
        """The pipe's inode (None once closed): identifies who else holds it."""
        try:
            return os.fstat(self.fd).st_ino if not self.closed.done() else None
        except OSError:
            return None

    @property
    def omitted(self) -> int:
        """Bytes dropped past the cap."""
        return self.size - self.kept

    def _write(self, data: bytes | memoryview) -> int:
        """Append to the log; the bytes written (0 once writing failed, e.g. disk full)."""
        if self.write_error is not None:
            return 0
        view = memoryview(data)
        try:
            if self._file is None:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                self._file = os.open(self.path, flags, 0o600)
            while view:
                view = view[os.write(self._file, view) :]
        except OSError as exc:
            self.write_error = exc.strerror or type(exc).__name__
        return len(data) - len(view)

    def _on_readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """One read into the log; False when the pipe had nothing to give right now."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            self.close()
            return True
        room = self.cap - self.kept
        self.size += len(data)
        if room > 0:
            part = data if len(data) <= room else memoryview(data)[:room]
            self.kept += self._write(part)
            if len(data) > room:
                self._write(
                    f"\n[hive: log cap of {self.cap} bytes reached; further output "
                    "is counted but not kept]\n".encode()
                )
        return True

    def close(self) -> None:
        """Stop reading; note omitted bytes at the end of the log; close both ends."""
        if self.closed.done():
            return
        if self._watched:
            self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        try:
            if self.omitted and self.write_error is None:
                self._write(f"[hive: {self.omitted} bytes omitted past the log cap]\n".encode())
        finally:
            if self._file is not None:
                os.close(self._file)
            self.closed.set_result(None)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # a bigger pipe means fewer wake-ups; optional
        fcntl.fcntl(r, _F_SETPIPE_SZ, PIPE_SIZE)
    return r, w


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


def _pipe_holders(inodes: set[int]) -> list[int]:
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
        out_r, out_w = _pipe()
        err_r, err_w = _pipe()
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
            for pid in await asyncio.to_thread(_pipe_holders, inodes):
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
