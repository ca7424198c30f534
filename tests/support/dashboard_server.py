"""A real dashboard for tests: `node web/.next/standalone/server.js` on 127.0.0.1.

    dash = DashboardServer.start(gateway_url=gw.url, tmp=tmp_path)
    httpx.get(dash.url + "/dashboard-healthz")
    dash.stop()

It needs the standalone build (`make test` runs scripts/build-web.sh first); without
it `start` fails loudly instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tests.support.service_process import ServiceProcess, free_port, spawn

WEB = Path(__file__).resolve().parents[2] / "web"
SERVER_JS = WEB / ".next" / "standalone" / "server.js"


def require_build() -> Path:
    """The standalone server script; AssertionError naming the build step when missing."""
    assert SERVER_JS.exists(), (
        f"{SERVER_JS} is missing: the dashboard is built by `make test` / `make web` "
        "(scripts/install-tools.sh, then scripts/build-web.sh)"
    )
    return SERVER_JS


@dataclass
class DashboardServer(ServiceProcess):
    """One dashboard process started by a test."""

    role: ClassVar[str] = "dashboard"
    health_path: ClassVar[str] = "/dashboard-healthz"

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls, *, gateway_url: str, tmp: Path, ready_timeout_s: float = 60.0
    ) -> DashboardServer:
        """Start the standalone server against `gateway_url` and wait for /dashboard-healthz."""
        server_js = require_build()
        tmp.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PORT": str(port),
            "HOSTNAME": "127.0.0.1",
            "HIVE_GATEWAY_INTERNAL_URL": gateway_url,
            "NEXT_TELEMETRY_DISABLED": "1",
            "NODE_ENV": "production",
        }
        log_path = tmp / f"dashboard-{port}.log"
        proc = spawn(["node", str(server_js)], env, log_path)
        server = cls(port, proc, log_path)
        server.wait_ready(ready_timeout_s)
        return server
