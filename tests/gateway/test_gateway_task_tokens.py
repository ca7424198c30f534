"""POST /internal/task-tokens: who may ask, what a token may carry, who accepts it."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from hive.contracts.tokens import verify
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SECRET, SandboxServer


def test_only_the_internal_secret_may_issue(gateway: GatewayServer) -> None:
    body = {"task_id": "t1", "scopes": ["relay:model"]}
    assert gateway.client().post("/internal/task-tokens", json=body).status_code == 401
    wrong = gateway.client(headers={"X-Internal-Secret": "x" * 40})
    assert wrong.post("/internal/task-tokens", json=body).status_code == 401
    # An operator session is not enough either.
    assert gateway.login().post("/internal/task-tokens", json=body).status_code == 401
    assert gateway.internal().post("/internal/task-tokens", json=body).status_code == 201


def test_issued_token_is_short_lived_scoped_and_verifiable(gateway: GatewayServer) -> None:
    before = time.time()
    doc = gateway.task_token(task_id="t-verify", scopes=["relay:model", "sandbox:task:t-verify"])
    claims = verify(SECRET, doc["token"])
    assert claims.task_id == "t-verify" and claims.jti == doc["jti"]
    assert (
        sorted(claims.scopes) == sorted(doc["scopes"]) == ["relay:model", "sandbox:task:t-verify"]
    )
    lifetime = claims.exp - before
    assert 895 <= lifetime <= 901  # the default TTL is 15 minutes
    assert (
        datetime.fromisoformat(doc["expires_at"].replace("Z", "+00:00")).timestamp() == claims.exp
    )
    other = gateway.task_token(task_id="t-verify", scopes=["relay:model"])
    assert other["jti"] != doc["jti"]


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["relay:model"]},  # bound to nothing
        {"task_id": "t1", "scopes": []},
        {"task_id": "t1", "scopes": ["admin"]},
        {"task_id": "t1", "scopes": ["sandbox:task:someone-else"]},
        {"agent_id": "a1", "scopes": ["sandbox:task:t1"]},
        {"task_id": "t1", "scopes": ["relay:model"], "ttl_s": 0},
        {"task_id": "t1", "scopes": ["relay:model"], "ttl_s": 10**9},
    ],
)
def test_requests_a_token_may_not_satisfy_are_refused(gateway: GatewayServer, body: dict) -> None:
    r = gateway.internal().post("/internal/task-tokens", json=body)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_failed"


def test_the_sandbox_accepts_the_token_for_its_task_only(
    gateway: GatewayServer, gw_sandbox: SandboxServer, project: dict[str, str]
) -> None:
    admin = gateway.login()
    created = admin.post(
        f"/api/projects/{project['project_id']}/dev-tasks",
        json={"instructions": '{"steps": []}', "backend": "deterministic_proof"},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["task_id"]
    token = gateway.task_token(task_id=task_id, scopes=[f"sandbox:task:{task_id}"])["token"]
    with gw_sandbox.client(auth=False) as sandbox:
        auth = {"Authorization": f"Bearer {token}"}
        own = sandbox.get(f"/dev-tasks/{task_id}", headers=auth)
        assert own.status_code == 200 and own.json()["task_id"] == task_id
        assert sandbox.get("/dev-tasks/some-other-task", headers=auth).status_code == 403
