"""JSON nested 1,000 to 100,000 levels deep, on every gateway route that takes a body:
422 validation_failed (never a 5xx), with each route group's own credentials so the
body is really parsed."""

from __future__ import annotations

import httpx
import pytest

from tests.support.gateway_server import GatewayServer

DEPTHS = (1_000, 10_000, 100_000)


def deep(depth: int) -> bytes:
    """`{"a": [[[ ... ]]]}`: an object (so routes expecting one do not refuse it by type)."""
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def _clients(gateway: GatewayServer) -> dict[str, httpx.Client]:
    """One client per route group, each with that group's credentials."""
    relay = gateway.client()
    token = gateway.task_token(task_id="hostile-json", scopes=["relay:model"])["token"]
    relay.headers["Authorization"] = f"Bearer {token}"
    agent = gateway.client()
    agent_token = gateway.task_token(agent_id="hostile-json", scopes=["agent:runtime"])["token"]
    agent.headers["Authorization"] = f"Bearer {agent_token}"
    return {
        "/internal/agent-runs/": agent,
        "/internal/agents/": agent,
        "/internal/": gateway.internal(),
        "/relay/": relay,
        "/": gateway.login(),
    }


def _pick(clients: dict[str, httpx.Client], path: str) -> httpx.Client:
    return next(c for prefix, c in clients.items() if path.startswith(prefix))


def _fill(path: str) -> str:
    """Path parameters replaced by well-formed ids (the body is parsed before any lookup)."""
    out = []
    for part in path.split("/"):
        out.append("x1" if part.startswith("{") else part)
    return "/".join(out)


def test_every_body_route_refuses_deep_json_with_a_422(gateway: GatewayServer) -> None:
    schema = gateway.client().get("/schema/openapi.json").json()
    routes = [
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "requestBody" in op
    ]
    assert len(routes) >= 8, routes  # the sweep reaches the routes that take bodies
    clients = _clients(gateway)
    for method, path in routes:
        if path == "/api/auth/logout":
            continue  # ends the session the sweep uses; takes no fields
        for depth in DEPTHS:
            r = _pick(clients, path).request(
                method,
                _fill(path),
                content=deep(depth),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 422, (method, path, depth, r.status_code, r.text[:300])
            assert r.json()["code"] == "validation_failed", (method, path, r.text[:300])


@pytest.mark.parametrize("depth", DEPTHS)
def test_deep_json_on_login_is_a_422(gateway: GatewayServer, depth: int) -> None:
    r = gateway.client().post(
        "/api/auth/login", content=deep(depth), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text[:300]
