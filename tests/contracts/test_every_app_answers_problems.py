"""Every OpenHive app answers refusals as problem+json with a code from ErrorCode.

The apps are built as `hive serve` builds them (their own `create_app`), and
driven in-process without their lifespans: an unknown route, a malformed body
and a missing credential are refused before anything would need the database,
so what is checked is only that each app installs the one mapping
(hive.contracts.problems.ProblemDetails).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hive.agent.main import create_app as agent_app
from hive.agent.settings import AgentSettings
from hive.contracts.errors import PROBLEM_CONTENT_TYPE, ErrorCode
from hive.gateway import minimal
from hive.gateway.main import create_app as gateway_app
from hive.gateway.pools.settings import AgentPoolSettings
from hive.gateway.settings import GatewaySettings
from hive.sandbox.main import create_app as sandbox_app
from hive.sandbox.settings import SandboxSettings
from tests.support.gateway_server import base_env
from tests.support.sandbox_server import SECRET

NOWHERE = "postgresql://hive@127.0.0.1:9/never-connected"


def _gateway(tmp: Path) -> Litestar:
    settings = GatewaySettings.from_env(base_env(NOWHERE, tmp, "http://127.0.0.1:9"))
    return gateway_app(settings, configure_logs=False, pool_settings=AgentPoolSettings.from_env({}))


def _sandbox(tmp: Path) -> Litestar:
    return sandbox_app(
        SandboxSettings.from_env(
            {"HIVE_INTERNAL_SECRET": SECRET, "HIVE_SANDBOX_ROOT": str(tmp), "DATABASE_URL": NOWHERE}
        )
    )


def _agent(tmp: Path) -> Litestar:
    return agent_app(
        AgentSettings.from_env({"HIVE_WORKSPACE": str(tmp), "HIVE_INTERNAL_SECRET": SECRET})
    )


APPS: dict[str, Callable[[Path], Litestar]] = {
    "gateway": _gateway,
    "gateway-minimal": lambda _: minimal.app,
    "sandbox": _sandbox,
    "agent": _agent,
}

# (app, method, path, credential headers, body, status): a body each app's route refuses:
# 422 for JSON of the wrong shape (STATUS of validation_failed), 400 for bytes that are not
# JSON at all (Litestar's own refusal, with the code CODE_OF_STATUS gives it). The
# full gateway answers 503 `unavailable` to every body until its lifespan has reached
# the database; its malformed bodies are driven against a real server in
# tests/gateway/test_gateway_hostile_json.py.
BAD_BODIES = [
    ("sandbox", "POST", "/commands", {"X-Internal-Secret": SECRET}, b'{"argv": "ls"}', 422),
    ("sandbox", "POST", "/dev-tasks", {"X-Internal-Secret": SECRET}, b'{"project_id": 1}', 422),
    ("sandbox", "POST", "/dev-tasks", {"X-Internal-Secret": SECRET}, b"[1, 2", 400),
    ("agent", "POST", "/run", {"X-Internal-Secret": SECRET}, b'{"input": []}', 422),
]

# (app, method, path): routes that need a credential, called without one.
UNAUTHENTICATED = [
    ("gateway", "GET", "/api/projects"),
    ("sandbox", "GET", "/commands"),
    ("agent", "POST", "/run"),
]


@pytest.fixture
def client(tmp_path: Path) -> Callable[[str], TestClient[Litestar]]:
    def build(name: str) -> TestClient[Litestar]:
        # Not entered as a context manager: the lifespan (database, workers) never runs.
        return TestClient(APPS[name](tmp_path))

    return build


def _assert_problem(resp: httpx.Response, status: int | None = None) -> ErrorCode:
    assert resp.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE), resp.text[:300]
    body = resp.json()
    code = ErrorCode(body["code"])  # raises on a code outside the enum
    assert body["status"] == resp.status_code
    if status is not None:
        assert resp.status_code == status, resp.text[:300]
    return code


@pytest.mark.parametrize("name", sorted(APPS))
def test_an_unknown_route_is_a_404_problem(
    client: Callable[[str], TestClient[Litestar]], name: str
) -> None:
    resp = client(name).get("/no/such/route")
    assert _assert_problem(resp, 404) is ErrorCode.NOT_FOUND


@pytest.mark.parametrize(("name", "method", "path", "headers", "body", "status"), BAD_BODIES)
def test_a_malformed_body_is_a_validation_problem(
    client: Callable[[str], TestClient[Litestar]],
    name: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    resp = client(name).request(
        method, path, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert _assert_problem(resp, status) is ErrorCode.VALIDATION_FAILED


@pytest.mark.parametrize(("name", "method", "path"), UNAUTHENTICATED)
def test_a_missing_credential_is_an_unauthorized_problem(
    client: Callable[[str], TestClient[Litestar]], name: str, method: str, path: str
) -> None:
    resp = client(name).request(method, path)
    assert _assert_problem(resp, 401) is ErrorCode.UNAUTHORIZED
