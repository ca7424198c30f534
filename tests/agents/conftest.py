"""Fixtures of the agent tests: a real sandbox, the scripted model, and a gateway per pool.

The gateway runs each pool in turn (`local`: agents inside the gateway;
`local_subprocess`: one `hive serve agent` process per agent), so the same
tests run against both (the contract suite). The model is the scripted
OpenAI-compatible server (the one test double); everything else is real:
PostgreSQL, the sandbox running Work Runs with the deterministic_proof backend,
the gateway's relay and its internal agent API.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import migrated_database
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer, worker_sandbox
from tests.support.scripted_model import ScriptedModelServer
from tests.support.service_process import free_port

VENDOR_KEY = "sk-canary-agent-vendor-key-3f9a1c7e"
MODEL = "agent-model"
POOLS = {
    "local": {"HIVE_POOL_BACKEND": "local"},
    "local_subprocess": {
        "HIVE_POOL_BACKEND": "container",
        "HIVE_CONTAINER_RUNTIME_BACKEND": "local_subprocess",
    },
}


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database of the agent tests' own: their sandbox's worker must not claim the Work
    Runs of the gateway tests' sandbox (another storage root) on the session database."""
    async with migrated_database(server_url, "hive_agents") as url:
        yield url


@pytest.fixture(scope="session")
def agent_model() -> Iterator[ScriptedModelServer]:
    """The scripted model (test double for the LLM vendor)."""
    with ScriptedModelServer(models=(MODEL,)) as server:
        yield server


@pytest.fixture(scope="session")
def agent_sandbox(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """A real sandbox running Work Runs with the deterministic_proof backend."""
    with worker_sandbox(database_url, tmp_path_factory.mktemp("agent-sandbox") / "root") as server:
        yield server


def start_gateway(
    database_url: str,
    sandbox: SandboxServer,
    model: ScriptedModelServer,
    tmp: Path,
    pool: str,
    **extra: str,
) -> GatewayServer:
    """A strict gateway with the given pool whose agents reach it on its own port."""
    port = free_port()
    env = {
        **POOLS[pool],
        "HIVE_MODEL_PROVIDERS": json.dumps(
            [
                {
                    "id": "scripted",
                    "base_url": model.base_url,
                    "api_key_env": "AGENT_VENDOR_KEY",
                    "models": [MODEL],
                }
            ]
        ),
        "AGENT_VENDOR_KEY": VENDOR_KEY,
        "HIVE_AGENT_GATEWAY_URL": f"http://127.0.0.1:{port}",
        "HIVE_AGENT_HEALTH_INTERVAL_S": "0.5",
        "HIVE_RELAY_RATE_LIMIT_PER_MINUTE": "6000",
        **extra,
    }
    return GatewayServer.start(database_url, tmp=tmp, sandbox_url=sandbox.url, env=env, port=port)


@pytest.fixture(scope="session", params=list(POOLS))
def pooled_gateway(
    request: pytest.FixtureRequest,
    database_url: str,
    agent_sandbox: SandboxServer,
    agent_model: ScriptedModelServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    """The gateway of one pool (the suite runs once per pool)."""
    server = start_gateway(
        database_url,
        agent_sandbox,
        agent_model,
        tmp_path_factory.mktemp(f"gw-{request.param}"),
        request.param,
    )
    server.pool = request.param  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def model(agent_model: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The shared scripted model, emptied before and after each test."""
    agent_model.reset()
    yield agent_model
    agent_model.release()
    agent_model.reset()


@pytest.fixture
def operator(pooled_gateway: GatewayServer) -> httpx.Client:
    """A logged-in operator."""
    client = pooled_gateway.login()
    client.timeout = httpx.Timeout(90.0)
    return client


@pytest.fixture
def project(operator: httpx.Client, tmp_path: Path) -> dict[str, str]:
    """A project with a small workspace."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text("hello\n")
    r = operator.post(
        "/api/projects", json={"name": f"p-{tmp_path.name}", "workspace_path": str(workspace)}
    )
    assert r.status_code == 201, r.text
    doc: dict[str, str] = r.json()
    return doc


def create_agent(operator: httpx.Client, project_id: str, **body: Any) -> dict[str, Any]:
    """POST /api/agents: a keeper on the scripted model unless `body` says otherwise."""
    r = operator.post(
        "/api/agents",
        json={"project_id": project_id, "role": "keeper", "model": MODEL, **body},
    )
    assert r.status_code == 201, r.text
    agent: dict[str, Any] = r.json()
    return agent


@contextmanager
def ready_agent(operator: httpx.Client, project_id: str, **body: Any) -> Iterator[dict[str, Any]]:
    """An agent whose runtime is ready, deleted on exit."""
    agent_id = create_agent(operator, project_id, **body)["agent_id"]
    try:
        yield wait_ready(operator, agent_id)
    finally:
        operator.delete(f"/api/agents/{agent_id}")


AgentFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_agent(operator: httpx.Client, project: dict[str, str]) -> Iterator[AgentFactory]:
    """Create an agent in the project and wait until its runtime is ready; deleted after."""
    made: list[str] = []

    def make(**body: Any) -> dict[str, Any]:
        agent = create_agent(operator, project["project_id"], **body)
        made.append(agent["agent_id"])
        return wait_ready(operator, agent["agent_id"])

    yield make
    for agent_id in made:
        operator.delete(f"/api/agents/{agent_id}")


def wait_ready(operator: httpx.Client, agent_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll GET /api/agents/{id} until its runtime reports runtime_ready."""
    deadline = time.monotonic() + timeout_s
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = operator.get(f"/api/agents/{agent_id}").json()
        if (doc.get("health") or {}).get("runtime_ready"):
            return doc
        time.sleep(0.1)
    raise AssertionError(f"agent {agent_id} not ready: {doc}")


def wait_run(
    operator: httpx.Client,
    agent_id: str,
    run_id: str,
    until: Callable[[dict[str, Any]], bool],
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Poll the run through the gateway until `until(run)`."""
    deadline = time.monotonic() + timeout_s
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = operator.get(f"/api/agents/{agent_id}/runs/{run_id}")
        if r.status_code == 200:
            doc = r.json()
            if until(doc):
                return doc
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached the condition: {doc}")
