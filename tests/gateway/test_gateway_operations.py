"""Operations: /healthz, /metrics, JSON logs, projects' workspaces, SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.gateway.conftest import providers
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer
from tests.support.scripted_model import ScriptedModelServer, Stall


def test_healthz_reports_full_mode_and_database(gateway: GatewayServer) -> None:
    doc = httpx.get(gateway.url + "/healthz").json()
    assert doc["status"] == "ok" and doc["role"] == "gateway" and doc["mode"] == "full"
    assert doc["db"] == "ok" and "pool_backend" in doc["agents"]


def test_metrics_need_the_internal_secret_and_count_requests(gateway: GatewayServer) -> None:
    assert gateway.client().get("/metrics").status_code == 401
    gateway.login().get("/api/projects")
    r = gateway.internal().get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert (
        'hive_gateway_http_requests_total{method="GET",route="/api/projects",status="200"}'
        in r.text
    )
    assert "hive_gateway_logins_total" in r.text
    # Routes are labelled by template, never by the concrete path.
    assert "prj_" not in r.text


def test_logs_are_json_lines_with_an_access_log(gateway: GatewayServer) -> None:
    marker = f"/api/projects/prj_{uuid.uuid4().hex[:12]}"
    gateway.login().get(marker)
    deadline = time.monotonic() + 10
    while marker not in gateway.read_log():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ours = [json.loads(line) for line in gateway.read_log().splitlines() if line.startswith("{")]
    access = [e for e in ours if e.get("logger") == "hive.gateway.access" and e["path"] == marker]
    assert (
        access and access[0]["status"] == 404 and access[0]["route"] == "/api/projects/{project_id}"
    )
    assert {"timestamp", "level", "event"} <= set(access[0])


def test_project_workspaces(admin: httpx.Client, gateway: GatewayServer, tmp_path: Path) -> None:
    name = f"Demo Project {uuid.uuid4().hex[:6]}"
    default = admin.post("/api/projects", json={"name": name})
    assert default.status_code == 201
    root = gateway.env["HIVE_WORKSPACE"]
    assert default.json()["workspace_path"] == os.path.join(root, name.lower().replace(" ", "-"))
    relative = admin.post(
        "/api/projects", json={"name": name + "-rel", "workspace_path": "team/app"}
    )
    assert relative.json()["workspace_path"] == os.path.join(root, "team", "app")
    escape = admin.post(
        "/api/projects", json={"name": name + "-esc", "workspace_path": "../../etc"}
    )
    assert escape.status_code == 422
    (tmp_path / "repo").mkdir()
    absolute = admin.post(
        "/api/projects", json={"name": name + "-abs", "workspace_path": str(tmp_path / "repo")}
    )
    assert absolute.json()["workspace_path"] == str(tmp_path / "repo")
    assert admin.post("/api/projects", json={"name": name}).status_code == 409
    pid = default.json()["project_id"]
    assert admin.get(f"/api/projects/{pid}").json()["name"] == name
    assert pid in [p["project_id"] for p in admin.get("/api/projects").json()]


def test_sigterm_drains_in_flight_requests_and_ends_event_streams(
    database_url: str, gw_sandbox: SandboxServer, tmp_path: Path
) -> None:
    with ScriptedModelServer() as upstream:
        upstream.script(Stall(seconds=30))
        gw = GatewayServer.start(
            database_url,
            tmp=tmp_path / "gw",
            sandbox_url=gw_sandbox.url,
            env={"HIVE_MODEL_PROVIDERS": providers(upstream), "SCRIPTED_VENDOR_KEY": "k" * 40},
        )
        admin = gw.login()
        ws = tmp_path / "ws"
        ws.mkdir()
        project = admin.post(
            "/api/projects", json={"name": "drain", "workspace_path": str(ws)}
        ).json()
        task = admin.post(
            f"/api/projects/{project['project_id']}/dev-tasks",
            json={"instructions": '{"steps": [{"sleep": {"seconds": 60}}]}'},
        ).json()
        token = gw.task_token(task_id=task["task_id"])["token"]
        relay_chunks: list[bytes] = []
        sse_result: dict[str, object] = {}
        relay_started, sse_started = threading.Event(), threading.Event()

        def relay_call() -> None:
            with httpx.stream(
                "POST",
                gw.url + "/relay/v1/responses",
                json={"model": "scripted-model", "input": "x", "stream": True},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as r:
                for chunk in r.iter_bytes():
                    relay_chunks.append(chunk)
                    relay_started.set()

        def follow_events() -> None:
            try:
                with httpx.stream(
                    "GET",
                    gw.url
                    + f"/api/projects/{project['project_id']}/dev-tasks/{task['task_id']}/events",
                    headers={"Accept": "text/event-stream"},
                    cookies={"hive_session": admin.cookies["hive_session"]},
                    timeout=60,
                ) as r:
                    for _ in r.iter_bytes():
                        sse_started.set()
                sse_result["ended"] = time.monotonic()
            except httpx.HTTPError as exc:
                sse_result["error"] = exc

        threads = [threading.Thread(target=relay_call), threading.Thread(target=follow_events)]
        for t in threads:
            t.start()
        assert relay_started.wait(20) and sse_started.wait(20)
        os.killpg(gw.proc.pid, signal.SIGTERM)
        threads[1].join(20)
        # The endless event stream ended by itself, cleanly, once draining began...
        assert "ended" in sse_result, sse_result
        # ...while the relay call is still in flight and the server still waits for it.
        assert threads[0].is_alive() and gw.proc.poll() is None
        upstream.release()
        threads[0].join(20)
        assert not threads[0].is_alive()
        assert gw.proc.wait(20) == 0
        assert b"response.created" in b"".join(relay_chunks)
        assert '"gateway stopped"' in gw.read_log()
