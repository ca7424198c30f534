"""Fixtures of the Codex backend tests: a private database, the scripted model, a gateway, a sandbox.

Only the model is a test double (tests/support/scripted_model.py, a scripted
Responses-API server on 127.0.0.1); the Codex CLI, the gateway relay, the
sandbox and PostgreSQL are real. Workers claim any pending attempt of their
database, so this package's sandboxes get a database of their own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.sandbox.workruns.conftest import create_migrated_database, drop_database
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer
from tests.support.scripted_model import ScriptedModelServer

VENDOR_KEY = "sk-vendor-canary-only-the-gateway-holds-3f9e1a"
MODELS = ["gpt-5.5", "qwen3-max"]


@pytest.fixture(scope="module")
async def codex_db(server_url: str) -> AsyncIterator[str]:
    """A migrated database private to one test module."""
    url = await create_migrated_database(server_url)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModelServer]:
    """The scripted vendor (test double), shared by a module; tests script their turns."""
    with ScriptedModelServer(models=MODELS) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_script(request: pytest.FixtureRequest) -> None:
    """Each test starts with an empty script (a cancelled run leaves turns unserved)."""
    if "model" in request.fixturenames:
        request.getfixturevalue("model").reset()


@pytest.fixture(scope="module")
def gateway(
    codex_db: str, model: ScriptedModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """The real gateway; its relay's only provider is the scripted model, with the vendor key."""
    providers = [
        {
            "id": "scripted",
            "base_url": model.base_url,
            "api_key_env": "SCRIPTED_VENDOR_KEY",
            "models": MODELS,
        }
    ]
    server = GatewayServer.start(
        codex_db,
        tmp=tmp_path_factory.mktemp("gateway"),
        env={"HIVE_MODEL_PROVIDERS": json.dumps(providers), "SCRIPTED_VENDOR_KEY": VENDOR_KEY},
    )
    yield server
    server.stop()


def codex_sandbox_env(**extra: str) -> dict[str, str]:
    """Worker on, Codex backend, short leases (quick cancel notice), bounded timeouts."""
    return {
        "HIVE_SANDBOX_WORKER": "true",
        "HIVE_SANDBOX_CODING_BACKEND": "codex_cli",
        "HIVE_SANDBOX_CODEX_MODEL": "gpt-5.5",  # a bundled slug: Codex offers apply_patch
        "HIVE_SANDBOX_LEASE_TTL_S": "3",
        "HIVE_SANDBOX_WORKER_POLL_S": "0.2",
        "HIVE_SANDBOX_KILL_GRACE_S": "2",
        "HIVE_SANDBOX_CODEX_TIMEOUT_S": "120",
        **extra,
    }


@pytest.fixture(scope="module")
def relay_sandbox(
    codex_db: str, gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """A sandbox running Codex in relay mode (the canary secrets of SandboxServer in its env)."""
    server = SandboxServer.start(
        codex_db,
        root=tmp_path_factory.mktemp("sandbox") / "root",
        env=codex_sandbox_env(HIVE_SANDBOX_CODEX_AUTH_MODE="relay", HIVE_GATEWAY_URL=gateway.url),
    )
    yield server
    server.stop()


@pytest.fixture
def target_repo(tmp_path: Path) -> Path:
    """A real git repo on disk: the workspace a task is seeded from and applied back to."""
    from tests.sandbox.workruns.domain import git_repo_with

    return git_repo_with(
        tmp_path / "project", {"greeting.txt": "hello\n", "src/app.py": "print('v1')\n"}
    )
