"""The OpenAPI document at /schema: an unauthenticated sweep and Schemathesis with a session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/auth/login")}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_schema_is_served_as_openapi_json(gateway: GatewayServer) -> None:
    r = gateway.client().get("/schema")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    ops = _operations(doc)
    for expected in [
        ("POST", "/api/auth/login"),
        ("GET", "/api/projects/{project_id}/dev-tasks/{task_id}"),
        ("GET", "/api/projects/{project_id}/dev-tasks/{task_id}/events"),
        ("POST", "/api/projects/{project_id}/dev-tasks/{task_id}/approve"),
        ("POST", "/internal/task-tokens"),
        ("POST", "/relay/v1/responses"),
        ("GET", "/metrics"),
    ]:
        assert expected in ops


def test_every_route_but_health_login_and_schema_needs_authentication(
    gateway: GatewayServer,
) -> None:
    doc = gateway.client().get("/schema").json()
    anonymous = gateway.client()
    checked = 0
    for method, path in _operations(doc):
        url = re.sub(r"\{[^}]+\}", "x1", path)
        r = anonymous.request(method, url, json={} if method in ("POST", "PUT") else None)
        if (method, path) in PUBLIC:
            assert r.status_code != 401, (method, path)
            continue
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        checked += 1
    assert checked >= 25  # the sweep really covered the API


# -- Schemathesis ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_gateway(
    database_url: str, gw_sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    """A gateway of its own: fuzzed logins must not throttle the other tests' logins."""
    server = GatewayServer.start(
        database_url,
        tmp=tmp_path_factory.mktemp("fuzz-gateway"),
        sandbox_url=gw_sandbox.url,
        env={"HIVE_LOGIN_MAX_FAILURES": "100000", "HIVE_ACCESS_LOG": "false"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fuzz_session(
    fuzz_gateway: GatewayServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Session cookie, CSRF header and internal secret for the fuzzed calls, plus a real project."""
    admin = fuzz_gateway.login()
    workspace: Path = tmp_path_factory.mktemp("fuzz-ws")
    project = admin.post(
        "/api/projects", json={"name": f"fuzz-{workspace.name}", "workspace_path": str(workspace)}
    )
    assert project.status_code == 201
    project_id = project.json()["project_id"]
    task = admin.post(
        f"/api/projects/{project_id}/dev-tasks",
        json={"instructions": '{"steps": [{"write": {"path": "f.txt", "content": "f"}}]}'},
    )
    assert task.status_code == 201
    return {
        "project_id": project_id,
        "task_id": task.json()["task_id"],
        "cookies": {"hive_session": admin.cookies["hive_session"]},
        "headers": {
            "X-CSRFToken": admin.headers["X-CSRFToken"],
            "X-Internal-Secret": fuzz_gateway.secret,
        },
    }


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_api_conforms_to_its_schema(
    fuzz_gateway: GatewayServer, fuzz_session: dict[str, Any]
) -> None:
    # Schemathesis' lazy pytest loader does not run under pytest 9 (it reads the removed
    # `_nodeid`), so the operations are driven here with their Hypothesis strategies.
    raw = httpx.get(fuzz_gateway.url + "/schema/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw).exclude(path="/api/auth/logout")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=fuzz_gateway.url,
                headers=fuzz_session["headers"],
                cookies=fuzz_session["cookies"],
                checks=CHECKS,
                timeout=30,
            )

        try:
            run()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc


def test_dev_task_routes_conform_with_real_ids(
    fuzz_gateway: GatewayServer, fuzz_session: dict[str, Any]
) -> None:
    # Random ids only ever meet 404s; here the path names a real project and task, so
    # the fuzzed queries and bodies reach the sandbox and its answers are validated too.
    raw = httpx.get(fuzz_gateway.url + "/schema/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw).include(path_regex="^/api/projects/.+/dev-tasks")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    real = {"project_id": fuzz_session["project_id"], "task_id": fuzz_session["task_id"]}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any) -> None:
            for name, value in real.items():
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = value
            if case.query and "follow" in case.query:
                case.query["follow"] = False  # a followed stream never ends by itself
            case.call_and_validate(
                base_url=fuzz_gateway.url,
                headers=fuzz_session["headers"],
                cookies=fuzz_session["cookies"],
                checks=CHECKS,
                timeout=30,
            )

        try:
            run()
        except Exception as exc:
            raise AssertionError(f"{operation.method.upper()} {operation.path}: {exc}") from exc


def test_schemathesis_session_is_really_authenticated(
    fuzz_gateway: GatewayServer, fuzz_session: dict[str, Any]
) -> None:
    # Guard against a fuzz run that only ever saw 401s.
    r = httpx.get(fuzz_gateway.url + "/api/auth/me", cookies=fuzz_session["cookies"], timeout=10)
    assert r.status_code == 200


def test_the_api_reference_page_needs_nothing_outside_the_gateway(gateway: GatewayServer) -> None:
    """/schema/swagger works offline: every script, style and icon is a gateway URL that answers."""
    anonymous = gateway.client()
    page = anonymous.get("/schema/swagger")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "http://" not in page.text and "https://" not in page.text and "//" + "cdn" not in page.text
    )
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert len(refs) >= 3  # icon, stylesheet, script
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = anonymous.get(ref)
        assert asset.status_code == 200 and len(asset.content) > 0, ref
    css = anonymous.get("/schema/assets/swagger-ui.css").text
    assert "url(http" not in css and "@import" not in css  # no web fonts or remote images
    # The page reads the document from the gateway too, and the document names its page.
    spec_url = re.search(r'url: "([^"]+)"', page.text)
    assert spec_url is not None and spec_url.group(1).startswith("/schema")
    doc = anonymous.get(spec_url.group(1)).json()
    assert "/schema/swagger" in doc["info"]["description"]


def test_the_work_run_create_body_is_documented_with_an_example_per_backend(
    gateway: GatewayServer,
) -> None:
    doc = gateway.client().get("/schema").json()
    body = doc["paths"]["/api/projects/{project_id}/dev-tasks"]["post"]["requestBody"]
    examples = body["content"]["application/json"]["schema"]["examples"]
    assert {e["backend"] for e in examples} == {"deterministic_proof", "codex_cli", "relay_helper"}
    plan = next(e for e in examples if e["backend"] == "deterministic_proof")["instructions"]
    assert "steps" in json.loads(plan)
    fields = doc["components"]["schemas"]["ProjectDevTaskCreate"]["properties"]
    for step in ("write", "run", "sleep", "artifact", "fail"):
        assert f'"{step}"' in fields["instructions"]["description"]
    assert "422" in fields["backend"]["description"]
