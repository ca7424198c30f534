"""A real gateway for tests: `hive.gateway.main:app` under granian on 127.0.0.1.

Reusable by every test that needs the control plane (gateway tests, e2e):

    gw = GatewayServer.start(database_url, sandbox_url=sandbox.url, tmp=tmp_path)
    with gw.login() as http:               # httpx.Client with session cookie + X-CSRFToken
        http.post("/api/projects", json={"name": "demo"})
    token = gw.task_token(task_id="t1")    # POST /internal/task-tokens with the secret
    gw.stop()                              # SIGTERM, graceful

The gateway gets strict startup, `HIVE_STARTUP_MIGRATION_MODE=check` (the
session database is already at head), the sandbox's internal secret, and
long canary values for its own secrets (`GATEWAY_CANARIES`), so a test can
grep its log for them. `GatewayServer.run_once(env)` runs a gateway that is
expected to refuse to start and returns its exit code and output.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from tests.support.sandbox_server import SECRET
from tests.support.service_process import ServiceProcess, free_port, spawn

ADMIN_PASSWORD = "canary-admin-password-5d1e9b"
# Secrets the gateway holds; none of them may ever appear in its output.
GATEWAY_CANARIES: Mapping[str, str] = {
    "DASHBOARD_SESSION_SECRET": "canary-session-secret-7e1c0a93b5d24f6e8a1b2c3d4e5f6a7b",
    "HIVE_CREDENTIAL_KEY": "canary-credential-key-c4b9e2f1a0d34e5f6a7b8c9d0e1f2a3b",
    "HIVE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
}


def base_env(database_url: str, workspace: Path, sandbox_url: str) -> dict[str, str]:
    """The environment of a strict, correctly configured gateway."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "HIVE_INTERNAL_SECRET": SECRET,
        "HIVE_WORKSPACE": str(workspace),
        "HIVE_SANDBOX_URL": sandbox_url,
        "HIVE_STRICT_STARTUP": "true",
        "HIVE_STARTUP_MIGRATION_MODE": "check",
        "HIVE_METADATA_CREATE_ON_STARTUP": "false",
        "HIVE_COOKIE_SECURE": "false",
        **GATEWAY_CANARIES,
    }
    if "VIRTUAL_ENV" in os.environ:
        env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
    return env


def granian(role: str, port: int) -> list[str]:
    """The granian command line serving `role` (gateway, gateway-minimal) on 127.0.0.1:port."""
    from hive.cli.serve import granian_argv

    return granian_argv(role, "127.0.0.1", port)


@dataclass
class GatewayServer(ServiceProcess):
    """One gateway process tree started by a test."""

    role: ClassVar[str] = "gateway"

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    secret: str = SECRET
    admin_password: str = ADMIN_PASSWORD
    _clients: list[httpx.Client] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        database_url: str,
        *,
        tmp: Path,
        sandbox_url: str = "http://127.0.0.1:9",
        env: Mapping[str, str] | None = None,
        role: str = "gateway",
        ready_timeout_s: float = 60.0,
        port: int | None = None,
    ) -> GatewayServer:
        """Start the gateway (on `port`, default a free one) and wait until /healthz answers 200."""
        tmp.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        full_env = {**base_env(database_url, tmp / "workspace", sandbox_url), **(env or {})}
        log_path = tmp / f"gateway-{port}.log"
        proc = spawn(granian(role, port), full_env, log_path)
        server = cls(port, proc, log_path, full_env)
        server.wait_ready(ready_timeout_s)
        return server

    @staticmethod
    def run_once(
        env: Mapping[str, str], *, role: str = "gateway", timeout_s: float = 60.0
    ) -> tuple[int, str]:
        """Run a gateway expected to exit by itself; (exit code, combined output)."""
        proc = subprocess.run(
            granian(role, free_port()),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
        )
        return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")

    def client(self, **kwargs: Any) -> httpx.Client:
        """A plain httpx client on this gateway (closed when the server stops)."""
        client = httpx.Client(base_url=self.url, timeout=30.0, **kwargs)
        self._clients.append(client)
        return client

    def login(self, username: str = "admin", password: str | None = None) -> httpx.Client:
        """A client with a session cookie and the matching X-CSRFToken header."""
        client = self.client()
        r = client.post(
            "/api/auth/login",
            json={"username": username, "password": password or self.admin_password},
        )
        r.raise_for_status()
        client.headers["X-CSRFToken"] = r.json()["csrf_token"]
        return client

    def internal(self) -> httpx.Client:
        """A client sending the internal secret."""
        return self.client(headers={"X-Internal-Secret": self.secret})

    def task_token(self, **body: Any) -> dict[str, Any]:
        """POST /internal/task-tokens; the issued token document."""
        body.setdefault("scopes", ["relay:model"])
        r = self.internal().post("/internal/task-tokens", json=body)
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc

    def on_stopped(self) -> None:
        """Close the clients handed out by `client()` / `login()`."""
        for client in self._clients:
            client.close()
        self._clients.clear()
