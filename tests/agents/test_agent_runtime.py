"""The agent runtime on its own (`hive serve agent`, a real process): health-only mode,
config bootstrap, and the credential its state-changing routes require."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from tests.support.service_process import ServiceProcess, free_port, spawn

DEFAULTS = Path(__file__).resolve().parents[2] / "services" / "agent" / "defaults"
TOKEN = "hvt.agent-runtime-test-token"


@dataclass
class AgentServer(ServiceProcess):
    """One `hive serve agent` process."""

    role: ClassVar[str] = "agent"
    port: int
    proc: object
    log_path: Path

    @classmethod
    def start(cls, workspace: Path, env: dict[str, str]) -> AgentServer:
        """Start and wait for /healthz."""
        port = free_port()
        hive = Path(sys.executable).with_name("hive")
        full = {
            "PATH": os.environ["PATH"],
            "HIVE_WORKSPACE": str(workspace),
            # The gateway is not needed for these checks; nothing listens here.
            "HIVE_GATEWAY_URL": f"http://127.0.0.1:{free_port()}",
            **env,
        }
        log_path = workspace.parent / f"agent-{port}.log"
        argv = [str(hive), "serve", "agent", "--port", str(port)]
        server = cls(port, spawn(argv, full, log_path), log_path)  # type: ignore[arg-type]
        server.wait_ready(30)
        return server


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[AgentServer] = []

    def start(env: dict[str, str], workspace: Path | None = None) -> AgentServer:
        ws = workspace or tmp_path / "config"
        ws.mkdir(exist_ok=True)
        server = AgentServer.start(ws, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_without_config_it_serves_health_only(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = serve({})
    health = httpx.get(server.url + "/healthz").json()
    assert health["role"] == "agent" and health["status"] == "ok"
    assert health["runtime_ready"] is False
    assert health["readiness_reason"] == "HIVE_AGENT_CONFIG_JSON not set"
    assert health["workspace"] == str(tmp_path / "config")
    r = httpx.post(server.url + "/run", json={"input": "x"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_bootstrap_copies_defaults_and_never_overwrites_an_edit(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = tmp_path / "config"
    ws.mkdir()
    (ws / "agent.example.json").write_text('{"edited": "by the operator"}\n')
    server = serve({}, ws)
    assert (ws / "agent.example.json").read_text() == '{"edited": "by the operator"}\n'
    assert (ws / "README.md").read_bytes() == (DEFAULTS / "README.md").read_bytes()
    server.stop()
    (ws / "README.md").write_text("my notes\n")
    serve({}, ws)
    assert (ws / "README.md").read_text() == "my notes\n"


def test_configured_runtime_requires_its_controller_credential(serve) -> None:  # type: ignore[no-untyped-def]
    config = {"agent_id": "a1", "project_id": "p1", "model": "m"}
    server = serve({"HIVE_AGENT_CONFIG_JSON": json.dumps(config), "HIVE_AGENT_TOKEN": TOKEN})
    health = httpx.get(server.url + "/healthz").json()
    assert health["runtime_ready"] is True and health["agent_id"] == "a1"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Internal-Secret": "wrong"}):
        r = httpx.post(server.url + "/run", json={"input": "x"}, headers=headers)
        assert r.status_code == 401, headers
    # With the credential the call reaches the runtime, which needs the gateway (down here).
    r = httpx.post(
        server.url + "/run", json={"input": "x"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 503 and r.json()["code"] == "unavailable"


def test_an_invalid_config_refuses_to_start(tmp_path: Path) -> None:
    import subprocess

    hive = Path(sys.executable).with_name("hive")
    proc = subprocess.run(
        [str(hive), "serve", "agent", "--port", str(free_port())],
        env={"PATH": os.environ["PATH"], "HIVE_AGENT_CONFIG_JSON": '{"agent_id": 1}',
             "HIVE_WORKSPACE": str(tmp_path)},
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert b"HIVE_AGENT_CONFIG_JSON is invalid" in proc.stdout + proc.stderr
