"""Fixtures of the gateway tests: a real sandbox, a scripted model upstream and a gateway.

All three are real servers on loopback (granian subprocesses, and the scripted
OpenAI-compatible server, the one test double), shared by the whole session:
`gateway` is strict, migrated-at-head, configured with three providers:

- `scripted` (models `scripted-model`, `gpt-5.5`): key from `SCRIPTED_VENDOR_KEY`,
- `stored` (model `stored-model`): its env var is unset, so the relay uses a
  provider credential stored through the API,
- `down` (model `down-model`): nothing listens on its port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer, free_port, worker_sandbox
from tests.support.scripted_model import Message, ScriptedModelServer

VENDOR_KEY = "sk-canary-vendor-key-0b7d4c1e9f2a"
STORED_VENDOR_KEY = "sk-canary-stored-key-8e3f6a2d1c0b"
RELAY_RATE_PER_MINUTE = 30


def providers(upstream: ScriptedModelServer) -> str:
    """HIVE_MODEL_PROVIDERS for the session gateway."""
    return json.dumps(
        [
            {
                "id": "scripted",
                "base_url": upstream.base_url,
                "api_key_env": "SCRIPTED_VENDOR_KEY",
                "models": ["scripted-model", "gpt-5.5"],
            },
            {
                "id": "stored",
                "base_url": upstream.base_url,
                "api_key_env": "UNSET_VENDOR_KEY",
                "models": ["stored-model"],
            },
            {
                "id": "down",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "models": ["down-model"],
            },
        ]
    )


@pytest.fixture(scope="session")
def model_upstream() -> Iterator[ScriptedModelServer]:
    """The scripted OpenAI-compatible server (test double for the LLM provider)."""
    with ScriptedModelServer(default=Message("ok"), models=("scripted-model",)) as server:
        yield server


@pytest.fixture(scope="session")
def gw_sandbox(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """A real sandbox running Work Runs with the deterministic_proof backend."""
    with worker_sandbox(database_url, tmp_path_factory.mktemp("gw-sandbox") / "root") as server:
        yield server


@pytest.fixture(scope="session")
def gateway_env(model_upstream: ScriptedModelServer) -> dict[str, str]:
    """Extra environment of the session gateway."""
    return {
        "HIVE_MODEL_PROVIDERS": providers(model_upstream),
        "SCRIPTED_VENDOR_KEY": VENDOR_KEY,
        "HIVE_RELAY_RATE_LIMIT_PER_MINUTE": str(RELAY_RATE_PER_MINUTE),
        "HIVE_LOG_LEVEL": "DEBUG",
    }


@pytest.fixture(scope="session")
def gateway(
    database_url: str,
    gw_sandbox: SandboxServer,
    gateway_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    """The session's gateway (strict startup, check mode, canary secrets)."""
    server = GatewayServer.start(
        database_url,
        tmp=tmp_path_factory.mktemp("gateway"),
        sandbox_url=gw_sandbox.url,
        env=gateway_env,
    )
    yield server
    server.stop()


@pytest.fixture
def admin(gateway: GatewayServer) -> httpx.Client:
    """A logged-in operator client (session cookie + X-CSRFToken)."""
    return gateway.login()


@pytest.fixture
def project(admin: httpx.Client, tmp_path: Path) -> dict[str, str]:
    """A fresh project whose workspace is a small directory under tmp_path."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text("hello\n")
    r = admin.post(
        "/api/projects", json={"name": f"p-{tmp_path.name}", "workspace_path": str(workspace)}
    )
    assert r.status_code == 201, r.text
    doc: dict[str, str] = r.json()
    return doc
