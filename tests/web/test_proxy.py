"""The dashboard's same-origin hop: health without the gateway, cookies both ways, SSE unbuffered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.dashboard_server import DashboardServer
from tests.support.gateway_server import GatewayServer
from tests.support.service_process import free_port
from tests.web.conftest import login, workspace


def test_dashboard_healthz_answers_with_the_gateway_down(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    dash = DashboardServer.start(gateway_url=dead, tmp=tmp_path)
    try:
        r = httpx.get(dash.url + "/dashboard-healthz", timeout=10)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "role": "dashboard"}
        # The gateway's own probe, proxied, tells the truth: it is down.
        assert httpx.get(dash.url + "/healthz", timeout=30).status_code >= 500
    finally:
        dash.stop()


def test_gateway_health_is_proxied(dashboard: DashboardServer) -> None:
    r = httpx.get(dashboard.url + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json()["role"] == "gateway"


def test_session_cookies_pass_both_ways(
    dashboard: DashboardServer, web_gateway: GatewayServer, tmp_path: Path
) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=30) as client:
        r = client.post(
            "/api/auth/login", json={"username": "admin", "password": web_gateway.admin_password}
        )
        assert r.status_code == 200, r.text
        set_cookies = r.headers.get_list("set-cookie")
        assert any(c.startswith("hive_session=") and "HttpOnly" in c for c in set_cookies)
        assert any(c.startswith("csrftoken=") for c in set_cookies)
        assert client.get("/api/auth/me").json()["username"] == "admin"
        body = {
            "name": f"cookies-{tmp_path.name}",
            "workspace_path": str(workspace(tmp_path / "w")),
        }
        # The cookie reaches the gateway, so the CSRF check (not the session check) refuses this:
        refused = client.post("/api/projects", json=body)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "csrf_failed"
        ok = client.post(
            "/api/projects", json=body, headers={"X-CSRFToken": client.cookies["csrftoken"]}
        )
        assert ok.status_code == 201, ok.text
        out = client.post("/api/auth/logout", headers={"X-CSRFToken": client.cookies["csrftoken"]})
        assert out.status_code == 204
        assert client.get("/api/auth/me").status_code == 401


def _sse(response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    event_id = ""
    for line in response.iter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            yield event_id, json.loads(line[5:])


def test_event_stream_arrives_chunk_by_chunk_and_resumes_after_last_event_id(
    dashboard: DashboardServer, web_gateway: GatewayServer, tmp_path: Path
) -> None:
    client = login(dashboard.url, web_gateway.admin_password)
    project = client.post(
        "/api/projects",
        json={"name": f"sse-{tmp_path.name}", "workspace_path": str(workspace(tmp_path / "w"))},
    ).json()
    plan = {"steps": [{"write": {"path": "a.txt", "content": "a\n"}}, {"sleep": {"seconds": 3}}]}
    task = client.post(
        f"/api/projects/{project['project_id']}/dev-tasks",
        json={"instructions": json.dumps(plan), "backend": "deterministic_proof"},
    ).json()
    base = f"/api/projects/{project['project_id']}/dev-tasks/{task['task_id']}"
    direct = web_gateway.login()
    with client.stream("GET", base + "/events", headers={"Accept": "text/event-stream"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in r.headers
        checkpoint_id = next(i for i, e in _sse(r) if e["event_type"] == "CheckpointRecorded")
        # The stream is still open and the attempt still sleeping: this event was forwarded
        # on its own, not with the rest of the stream.
        status = direct.get(base).json()
        assert status["state"] == "running", status
    with client.stream(
        "GET",
        base + "/events",
        headers={"Accept": "text/event-stream", "Last-Event-ID": checkpoint_id},
    ) as r:
        first_id, _ = next(_sse(r))
        assert int(first_id) == int(checkpoint_id) + 1


def test_pages_are_served_offline_ready_and_unframeable(dashboard: DashboardServer) -> None:
    r = httpx.get(dashboard.url + "/login", timeout=10)
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "x-powered-by" not in r.headers
    # No font, script or stylesheet from anywhere but this origin.
    assert "https://" not in r.text and "http://" not in r.text.replace("http://www.w3.org", "")


def test_large_request_bodies_reach_the_gateway_whole_or_get_a_413_problem(
    dashboard: DashboardServer, web_gateway: GatewayServer
) -> None:
    client = login(dashboard.url, web_gateway.admin_password)
    # 9 MiB: within Next.js' proxy body clone and the operator API's limit (both 10 MiB):
    # the gateway reads all of it and judges the JSON (a cut body would be a 400).
    whole = client.post(
        "/api/projects", json={"name": "x" * (9 * 1024 * 1024), "workspace_path": "/nonexistent"}
    )
    assert whole.status_code == 422, whole.text[:300]
    assert whole.json()["code"] == "validation_failed"
    # 12 MiB: refused with the gateway's code, not forwarded into a broken pipe's bare 500.
    big = client.post(
        "/api/projects", json={"name": "x" * (12 * 1024 * 1024), "workspace_path": "/nonexistent"}
    )
    assert big.status_code == 413, big.text[:300] + dashboard.read_log(3000)
    assert big.headers["content-type"].startswith("application/problem+json")
    assert big.json()["code"] == "payload_too_large"
