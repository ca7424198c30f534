"""Fixtures of the dashboard tests: a real sandbox, gateway and dashboard on loopback.

The sandbox runs Work Runs with the `deterministic_proof` backend (no model, no double);
the gateway runs agents in its `local` pool, their model being the scripted
OpenAI-compatible server (tests/support/scripted_model.py, the one test double); the
dashboard is the standalone Next.js build (`node web/.next/standalone/server.js`),
reaching the gateway only through HIVE_GATEWAY_INTERNAL_URL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.agents.conftest import MODEL, start_gateway
from tests.support.dashboard_server import WEB, DashboardServer
from tests.support.databases import migrated_database
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer, worker_sandbox
from tests.support.scripted_model import ScriptedModelServer


def node_tool(name: str) -> Path:
    """A binary of web/node_modules/.bin; fails (not skips) when `npm ci` has not run."""
    path = WEB / "node_modules" / ".bin" / name
    assert path.exists(), f"{path} missing: scripts/install-tools.sh runs npm ci in web/"
    return path


def run_node(
    argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a node tool in web/; the completed process (output captured, text)."""
    assert shutil.which("node"), "node is required (Node 20)"
    full_env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1", "FORCE_COLOR": "0", **(env or {})}
    return subprocess.run(
        argv,
        cwd=WEB,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database of the dashboard tests' own: no other test's sandbox worker (another
    storage root) may claim, resume or reap their Work Runs."""
    async with migrated_database(server_url, "hive_web") as url:
        yield url


@pytest.fixture(scope="session")
def web_sandbox(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """A real sandbox whose worker runs deterministic_proof Work Runs."""
    with worker_sandbox(database_url, tmp_path_factory.mktemp("web-sandbox") / "root") as server:
        yield server


@pytest.fixture(scope="session")
def web_model() -> Iterator[ScriptedModelServer]:
    """The agents' model: the scripted OpenAI-compatible server (the one test double)."""
    with ScriptedModelServer(models=(MODEL,)) as server:
        yield server


@pytest.fixture(scope="session")
def web_gateway(
    database_url: str,
    web_sandbox: SandboxServer,
    web_model: ScriptedModelServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    """The gateway behind the dashboard (agents in its `local` pool)."""
    server = start_gateway(
        database_url, web_sandbox, web_model, tmp_path_factory.mktemp("web-gateway"), "local"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dashboard(
    web_gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DashboardServer]:
    """The standalone dashboard, proxying to the session gateway."""
    server = DashboardServer.start(
        gateway_url=web_gateway.url, tmp=tmp_path_factory.mktemp("dashboard")
    )
    yield server
    server.stop()


def login(base_url: str, password: str) -> httpx.Client:
    """An httpx client logged in through `base_url`, echoing the CSRF cookie as the header."""
    client = httpx.Client(base_url=base_url, timeout=30.0)
    r = client.post("/api/auth/login", json={"username": "admin", "password": password})
    assert r.status_code == 200, r.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def workspace(root: Path) -> Path:
    """A project workspace with README.md = "hello\\n" (what the e2e plan edits)."""
    root.mkdir(parents=True)
    (root / "README.md").write_text("hello\n")
    return root
