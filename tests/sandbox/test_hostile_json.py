"""JSON nested 1,000 to 100,000 levels deep on every sandbox route that takes a body:
422 validation_failed, never a 5xx; a checkpoint payload deeper than 64 levels is refused
before it is stored (a stored event must always be readable back)."""

from __future__ import annotations

import inspect

import httpx

from hive.sandbox.main import create_app
from hive.sandbox.settings import SandboxSettings
from tests.support.sandbox_server import SandboxServer

DEPTHS = (1_000, 10_000, 100_000)


def deep(depth: int) -> bytes:
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def body_routes() -> list[tuple[str, str]]:
    """(method, path) of every handler that declares a request body (`data`)."""
    settings = SandboxSettings.from_env({"HIVE_INTERNAL_SECRET": "x", "HIVE_SANDBOX_ROOT": "/tmp"})
    out = []
    for route in create_app(settings).routes:
        for handler in getattr(route, "route_handlers", []):
            if "data" in inspect.signature(handler.fn).parameters:
                for method in handler.http_methods:
                    out.append((method, route.path))
    return out


def test_every_body_route_refuses_deep_json_with_a_422(sandbox: httpx.Client) -> None:
    routes = body_routes()
    assert len(routes) >= 8, routes
    for method, path in routes:
        url = path.replace("{task_id:str}", "wr-none").replace("{command_id:str}", "c-none")
        for depth in DEPTHS:
            r = sandbox.request(
                method, url, content=deep(depth), headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 422, (method, path, depth, r.status_code, r.text[:300])
            assert r.json()["code"] == "validation_failed"


def test_a_checkpoint_payload_deeper_than_64_levels_is_refused(
    sandbox_server: SandboxServer,
) -> None:
    nested: dict[str, object] = {}
    cur = nested
    for _ in range(80):
        cur["n"] = {}
        cur = cur["n"]  # type: ignore[assignment]
    with sandbox_server.client() as http:
        r = http.post(
            "/dev-tasks/wr-none/checkpoints", json={"checkpoint_payload": nested, "durable": True}
        )
    assert r.status_code == 422, r.text
    assert "64" in r.json()["detail"]
