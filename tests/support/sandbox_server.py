"""A real sandbox server for tests: `hive.sandbox.main:app` under granian on 127.0.0.1.

Reusable by every sandbox test (governed commands, Work Runs, backends):

    server = SandboxServer.start(database_url, root=tmp_path / "sandbox",
                                 env={"HIVE_SANDBOX_LOG_CAP_BYTES": "1024"})
    with server.client() as http:            # httpx.Client, X-Internal-Secret set
        http.post("/commands", json={"argv": ["true"]})
    server.kill()                            # SIGKILL the whole server (a crash)
    server = server.restart()                # same root, database and secret
    server.stop()                            # SIGTERM, graceful

The server runs in its own session with the environment given (plus the
canary secrets of `CANARY_ENV` unless `canaries=False`), so tests can prove
that nothing of the sandbox's own environment reaches a governed child.
`worker_pid()` is the granian worker that runs the app (the process whose
memory a test measures).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx

from tests.support.service_process import ServiceProcess, free_port, spawn

REPO = Path(__file__).resolve().parents[2]

SECRET = "test-internal-secret-not-for-production"
# Values that must never show up in a governed child's environment or output.
CANARY_ENV: Mapping[str, str] = {
    "OPENAI_API_KEY": "sk-canary-openai-7f3a",
    "ANTHROPIC_API_KEY": "sk-ant-canary-91bd",
    "DASHSCOPE_API_KEY": "canary-dashscope-55e1",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-0c4f",
    "GITHUB_TOKEN": "ghp_canary_b8d2",
    "PGPASSWORD": "canary-pgpassword-3e9a",
    "DASHBOARD_SESSION_SECRET": "canary-dashboard-session-a1c7",
    "HIVE_CREDENTIAL_KEY": "canary-credential-key-66f0",
    "SLACK_BOT_TOKEN": "xoxb-canary-4d2b",
    "MY_APP_PASSWORD": "canary-app-password-2b8e",
}


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(p) for p in fh.read().split()]
    except OSError:
        pass
    return out


@dataclass
class SandboxServer(ServiceProcess):
    """One sandbox process tree started by a test."""

    role: ClassVar[str] = "sandbox"

    database_url: str
    root: Path
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    canaries: bool = True
    secret: str = SECRET
    extra_env: dict[str, str] = field(default_factory=dict)
    launcher: tuple[str, ...] = ()
    app: str | None = None

    @classmethod
    def start(
        cls,
        database_url: str,
        *,
        root: Path,
        env: Mapping[str, str] | None = None,
        canaries: bool = True,
        port: int | None = None,
        ready_timeout_s: float = 60.0,
        launcher: Sequence[str] = (),
        app: str | None = None,
    ) -> SandboxServer:
        """Start `hive.sandbox.main:app` under granian and wait until /healthz says ok.

        `launcher` is an argv prefix that must end by exec-ing the rest (e.g.
        `unshare --mount ...` giving the sandbox its own view of the filesystem).
        `app` serves another granian target built on `create_app` (a test-only
        entry point such as tests.support.paused_sandbox:app) from the repo root.
        """
        from hive.cli.serve import granian_argv

        root.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "DATABASE_URL": database_url,
            "HIVE_INTERNAL_SECRET": SECRET,
            "HIVE_SANDBOX_ROOT": str(root),
            "HIVE_SANDBOX_WORKER": "false",
            "HIVE_SANDBOX_KILL_GRACE_S": "2",
            **(CANARY_ENV if canaries else {}),
            **(env or {}),
        }
        if "VIRTUAL_ENV" in os.environ:
            full_env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
        log_path = root.parent / f"sandbox-{port}.log"
        argv = granian_argv("sandbox", "127.0.0.1", port)
        if app is not None:
            argv[-1:] = ["--working-dir", str(REPO), app]
        proc = spawn([*launcher, *argv], full_env, log_path)
        server = cls(database_url, root, full_env, port, proc, log_path, canaries, SECRET,
                     dict(env or {}), tuple(launcher), app)  # fmt: skip
        server.wait_ready(ready_timeout_s)
        return server

    def is_ready(self, response: httpx.Response) -> bool:
        """Ready once /healthz says `ok` (the database is connected)."""
        return response.status_code == 200 and response.json().get("status") == "ok"

    def client(self, *, auth: bool = True, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on this server (with X-Internal-Secret unless auth=False)."""
        headers = {"X-Internal-Secret": self.secret} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def async_client(self, *, auth: bool = True, timeout: float = 30.0) -> httpx.AsyncClient:
        """The async variant of `client`."""
        headers = {"X-Internal-Secret": self.secret} if auth else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    def worker_pid(self) -> int:
        """Pid of the process running the app (granian's worker, else the server itself)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kids = _children(self.proc.pid)
            if kids:
                return kids[0]
            time.sleep(0.05)
        return self.proc.pid

    def restart(self) -> SandboxServer:
        """A new server on the same root, database, port-less env (after kill() or stop())."""
        return SandboxServer.start(
            self.database_url,
            root=self.root,
            env=self.extra_env,
            canaries=self.canaries,
            launcher=self.launcher,
            app=self.app,
        )


def sandbox_python() -> str:
    """The interpreter governed commands see as `python3` on PATH (for building test argv)."""
    return sys.executable


# The sandbox most suites start beside a gateway: its worker runs Work Runs with the
# deterministic_proof backend.
DETERMINISTIC_WORKER: Mapping[str, str] = {
    "HIVE_SANDBOX_WORKER": "true",
    "HIVE_SANDBOX_CODING_BACKEND": "deterministic_proof",
}


@contextmanager
def worker_sandbox(database_url: str, root: Path) -> Iterator[SandboxServer]:
    """A sandbox whose worker runs deterministic_proof Work Runs, stopped on exit.

    Give it a database of the suite's own (`migrated_database`): a worker claims every
    runnable Work Run in its database, and one on another storage root sharing the
    session database fails other suites' attempts ("not on this replica").
    """
    server = SandboxServer.start(database_url, root=root, env=DETERMINISTIC_WORKER)
    try:
        yield server
    finally:
        server.stop()
