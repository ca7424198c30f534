"""What every real service started by a test shares: a granian process tree on loopback.

`ServiceProcess` is a mixin for the per-role fixtures (`SandboxServer`,
`GatewayServer`): they hold `port`, `proc` and `log_path`, and get readiness
polling, log reading and group-wide kill/stop from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import httpx


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a service in its own session (so kill/stop reach the whole tree), output to a log."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class ServiceProcess:
    """Readiness, logs and signals of one service process tree."""

    role: ClassVar[str]
    health_path: ClassVar[str] = "/healthz"
    # Every service a test started, so the session can stop what a failed test (or a
    # fixture that lost track, e.g. of a restart) left running: see `stop_leftovers`.
    started: ClassVar[list[ServiceProcess]] = []
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def __post_init__(self) -> None:
        ServiceProcess.started.append(self)

    @classmethod
    def stop_leftovers(cls) -> list[str]:
        """SIGKILL every started service still running; their URLs."""
        left = [s for s in cls.started if s.proc.poll() is None]
        for service in left:
            service.kill()
        cls.started.clear()
        return [f"{s.role} {s.url}" for s in left]

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def is_ready(self, response: httpx.Response) -> bool:
        """Whether a /healthz answer means ready (a 200 unless a role says more)."""
        return response.status_code == 200

    def wait_ready(self, timeout_s: float) -> None:
        """Poll the health path until ready; raise with the log when the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited {self.proc.returncode}:\n{self.read_log()}")
            try:
                if self.is_ready(httpx.get(self.url + self.health_path, timeout=2)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.role} not ready in {timeout_s}s:\n{self.read_log()}")

    def read_log(self, tail: int = 20_000) -> str:
        """The last `tail` characters the service wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def on_stopped(self) -> None:
        """Hook for a role's own clean-up after kill or stop."""

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, no shutdown hooks run."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.on_stopped()

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM (graceful drain), SIGKILL after `timeout_s`; the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.on_stopped()
        return int(self.proc.returncode)
