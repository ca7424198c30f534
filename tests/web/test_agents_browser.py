"""The agent screens end to end in headless Chromium: a run that stops for an operator's
approval, approved from the UI (mouse pass, then keyboard-only pass), and a run stopped
on its exhausted budget, granted more from the UI.

The stack is real (embedded PostgreSQL, sandbox, gateway with agents in its `local` pool,
the standalone dashboard); the agent's model is the scripted OpenAI-compatible server
(tests/support/scripted_model.py), the one test double. web/e2e/agents.e2e.mjs drives
the browser; this module scripts the model and checks what only the server side sees.
Screenshots land in web/e2e-artifacts/ (gitignored).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents.conftest import MODEL, ready_agent
from tests.support.dashboard_server import DashboardServer
from tests.support.gateway_server import GatewayServer
from tests.support.scripted_model import FunctionCall, Message, ScriptedModelServer
from tests.web.conftest import login, run_node, workspace
from tests.web.test_browser import ARTIFACTS, chromium_path

PLAN = json.dumps({"steps": [{"write": {"path": "NOTES.md", "content": "from the keeper\n"}}]})


def _tool_call_then(text: str) -> list[FunctionCall | Message]:
    """One run's model turns: create_dev_task (needs approval), then a final message."""
    return [
        FunctionCall("create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}),
        Message(text),
    ]


@pytest.fixture
def model(web_model: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The session's scripted model, emptied before and after the test."""
    web_model.reset()
    yield web_model
    web_model.release()
    web_model.reset()


@pytest.fixture
def operator(dashboard: DashboardServer, web_gateway: GatewayServer) -> Iterator[httpx.Client]:
    """An operator logged in through the dashboard (the same origin the browser uses)."""
    client = login(dashboard.url, web_gateway.admin_password)
    client.timeout = httpx.Timeout(90.0)
    yield client
    client.close()


def _project(operator: httpx.Client, ws: Path) -> dict[str, Any]:
    r = operator.post(
        "/api/projects", json={"name": f"agents-{ws.parent.name}", "workspace_path": str(ws)}
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _run(scenario: str, dashboard: DashboardServer, gateway: GatewayServer, **env: str) -> None:
    proc = run_node(
        ["node", "e2e/agents.e2e.mjs"],
        env={
            "DASHBOARD_URL": dashboard.url,
            "HIVE_ADMIN_PASSWORD": gateway.admin_password,
            "ARTIFACT_DIR": str(ARTIFACTS),
            "CHROMIUM": chromium_path(),
            "AGENT_SCENARIO": scenario,
            **env,
        },
        timeout_s=280,
    )
    print(proc.stdout)
    assert proc.returncode == 0, (
        f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}\ndashboard log:\n{dashboard.read_log(4000)}"
    )


def _events(operator: httpx.Client, agent_id: str, run_id: str) -> list[dict[str, Any]]:
    r = operator.get(f"/api/agents/{agent_id}/runs/{run_id}/events")
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    return events


def _work_runs(operator: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    r = operator.get(f"/api/projects/{project_id}/dev-tasks")
    assert r.status_code == 200, r.text
    runs: list[dict[str, Any]] = r.json()
    return runs


@pytest.mark.timeout(300)
def test_an_agent_run_stopped_for_approval_is_approved_in_the_browser(
    dashboard: DashboardServer,
    web_gateway: GatewayServer,
    operator: httpx.Client,
    model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    project = _project(operator, workspace(tmp_path / "ws"))
    agent_id = f"e2e-{uuid.uuid4().hex[:8]}"
    # Run 1 is approved in the UI; run 2's request is approved through the API while
    # the UI's decline dialog is open (the dialog then shows the gateway's 409).
    model.script(*_tool_call_then("done after approval"), *_tool_call_then("second done"))
    try:
        _run(
            "mouse",
            dashboard,
            web_gateway,
            AGENT_ID=agent_id,
            PROJECT_NAME=project["name"],
            MODEL=MODEL,
        )
        runs = operator.get(f"/api/agents/{agent_id}/runs").json()
        assert sorted(r["status"] for r in runs) == ["completed", "completed"]
        first = min(
            runs, key=lambda r: _events(operator, agent_id, r["run_id"])[0]["global_position"]
        )
        decided = [
            e
            for e in _events(operator, agent_id, first["run_id"])
            if e["event_type"] == "AgentApprovalDecided"
        ]
        # The browser's decision, recorded as the logged-in operator's.
        assert [(e["payload"]["approved"], e["payload"]["decided_by"]) for e in decided] == [
            (True, "admin")
        ]
        # Each approved tool call created its Work Run in the project (nothing before).
        assert len(_work_runs(operator, project["project_id"])) == 2
        assert (ARTIFACTS / "agent-mouse-03-approved.png").stat().st_size > 0
    finally:
        operator.delete(f"/api/agents/{agent_id}")


@pytest.mark.timeout(300)
def test_an_agent_run_is_approved_with_the_keyboard_only(
    dashboard: DashboardServer,
    web_gateway: GatewayServer,
    operator: httpx.Client,
    model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    project = _project(operator, workspace(tmp_path / "ws"))
    agent_id = f"kb-{uuid.uuid4().hex[:8]}"
    with ready_agent(
        operator,
        project["project_id"],
        agent_id=agent_id,
        policies={"create_dev_task": "operator_approval"},
    ):
        model.script(*_tool_call_then("done by keyboard"))
        run = operator.post(f"/api/agents/{agent_id}/run", json={"input": "go"}).json()
        assert run["status"] == "awaiting_input", run
        assert _work_runs(operator, project["project_id"]) == []
        _run("keyboard", dashboard, web_gateway, AGENT_ID=agent_id)
        done = operator.get(f"/api/agents/{agent_id}/runs/{run['run_id']}").json()
        assert done["status"] == "completed" and done["output"] == "done by keyboard"
        assert len(_work_runs(operator, project["project_id"])) == 1


@pytest.mark.timeout(300)
def test_an_exhausted_budget_is_granted_in_the_browser(
    dashboard: DashboardServer,
    web_gateway: GatewayServer,
    operator: httpx.Client,
    model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    project = _project(operator, workspace(tmp_path / "ws"))
    agent_id = f"budget-{uuid.uuid4().hex[:8]}"
    with ready_agent(operator, project["project_id"], agent_id=agent_id, budget={"model_calls": 1}):
        model.script(FunctionCall("remember", {"note": "budget test"}), Message("finished"))
        run = operator.post(f"/api/agents/{agent_id}/run", json={"input": "go"}).json()
        assert run["status"] == "awaiting_input" and run["pending"]["reason"] == "budget", run
        _run("grant", dashboard, web_gateway, AGENT_ID=agent_id, RUN_ID=run["run_id"])
        decided = [
            e["payload"]
            for e in _events(operator, agent_id, run["run_id"])
            if e["event_type"] == "AgentApprovalDecided"
        ]
        assert [(d["decided_by"], d["grant"]["model_calls"]) for d in decided] == [("admin", 1)]
        assert len(model.model_requests()) == 2
