"""A real `hive dev` for tests: the operator's main job, started the way `make dev` starts it.

    dev = HiveDev.start(database_url=url, data_dir=tmp / "data", cwd=tmp)
    dev.lines               # what it printed, up to "Ctrl-C stops everything"
    dev.gateway_url         # from the ports it was given
    dev.stop()              # SIGTERM, as Ctrl-C would

It runs in its own session from `cwd` (not the repository), with its own data
dir and free ports, on a database given as DATABASE_URL (an empty one: `hive
dev` migrates it), and the admin password in HIVE_BOOTSTRAP_ADMIN_PASSWORD.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tests.support.service_process import ServiceProcess, free_port, spawn

ADMIN_PASSWORD = "walkthrough-admin-password-4f2a9c"
READY_LINE = "Ctrl-C stops everything"


@dataclass
class HiveDev(ServiceProcess):
    """One `hive dev` process tree (granian children in the same session)."""

    role: ClassVar[str] = "hive dev"
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    sandbox_port: int
    dashboard_port: int
    env: dict[str, str]
    lines: list[str]

    @classmethod
    def start(
        cls,
        *,
        database_url: str,
        data_dir: Path,
        cwd: Path,
        extra_env: dict[str, str] | None = None,
        timeout_s: float = 120.0,
    ) -> HiveDev:
        """Start it and wait for its ready line; raise with its output if it fails."""
        ports = [free_port() for _ in range(3)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "DATABASE_URL": database_url,
            "HIVE_DATA_DIR": str(data_dir),
            "HIVE_GATEWAY_PORT": str(ports[0]),
            "HIVE_SANDBOX_PORT": str(ports[1]),
            "HIVE_DASHBOARD_PORT": str(ports[2]),
            "HIVE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **(extra_env or {}),
        }
        if "VIRTUAL_ENV" in os.environ:
            env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
        log_path = cwd / "hive-dev.out"
        argv = [sys.executable, "-m", "hive.cli.main", "dev"]
        old = os.getcwd()
        os.chdir(cwd)  # spawn() has no cwd; hive dev must not rely on being run in the repo
        try:
            proc = spawn(argv, env, log_path)
        finally:
            os.chdir(old)
        dev = cls(
            port=ports[0],
            proc=proc,
            log_path=log_path,
            data_dir=data_dir,
            sandbox_port=ports[1],
            dashboard_port=ports[2],
            env=env,
            lines=[],
        )
        deadline = time.monotonic() + timeout_s
        while READY_LINE not in dev.read_log():
            if proc.poll() is not None or time.monotonic() > deadline:
                dev.kill()
                raise RuntimeError(f"hive dev did not get ready:\n{dev.read_log()}")
            time.sleep(0.1)
        dev.lines = dev.read_log().splitlines()
        return dev

    @property
    def gateway_url(self) -> str:
        """The gateway it started."""
        return f"http://127.0.0.1:{self.port}"

    def line(self, name: str) -> str:
        """The line it printed for component `name` (the first word of the line)."""
        found = [ln for ln in self.lines if ln.split(" ", 1)[0] == name]
        assert found, f"hive dev printed no {name!r} line:\n" + "\n".join(self.lines)
        return found[0]
