"""`hive dev` serves the built dashboard beside gateway and sandbox, same-origin, URL printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.dashboard_server import require_build
from tests.support.service_process import free_port


def test_hive_dev_starts_the_dashboard_in_front_of_the_gateway(
    empty_database: Callable[[], str], tmp_path: Path
) -> None:
    require_build()
    # A database of its own: `hive dev` bootstraps `admin` with its own generated password,
    # which must not become the admin of the session database other tests log in to.
    database_url = empty_database()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HIVE_")},
        "DATABASE_URL": database_url,
        "HIVE_DATA_DIR": str(tmp_path / "hive"),
        "HIVE_GATEWAY_PORT": str(free_port()),
        "HIVE_SANDBOX_PORT": str(free_port()),
        "HIVE_DASHBOARD_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hive.cli.main", "dev"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        assert f"open http://127.0.0.1:{port} " in out, out
        dash = f"http://127.0.0.1:{port}"
        assert httpx.get(dash + "/dashboard-healthz", timeout=10).json()["role"] == "dashboard"
        # The gateway answers through the dashboard's origin.
        assert httpx.get(dash + "/healthz", timeout=10).json()["role"] == "gateway"
        assert httpx.get(dash + "/login", timeout=10).status_code == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
