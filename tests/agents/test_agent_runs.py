"""Agent runs through /api/agents, the same suite over every pool (local, local_subprocess).

The model is the scripted OpenAI-compatible server (the one test double).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.agents.conftest import MODEL, AgentFactory, wait_run
from tests.support.gateway_server import GatewayServer
from tests.support.scripted_model import FunctionCall, Hold, Message, ScriptedModelServer

PLAN = '{"steps": [{"write": {"path": "NOTES.md", "content": "from the keeper\\n"}}]}'


def _tasks(operator: httpx.Client, project_id: str) -> list[dict[str, object]]:
    r = operator.get(f"/api/projects/{project_id}/dev-tasks")
    assert r.status_code == 200, r.text
    doc = r.json()
    return list(doc if isinstance(doc, list) else doc["items"])


def test_a_run_that_calls_create_dev_task_creates_one_work_run(
    operator: httpx.Client,
    project: dict[str, str],
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    agent = make_agent()
    model.script(
        FunctionCall("create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}),
        Message("I created the Work Run."),
    )
    r = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "write the notes"})
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "completed", run
    assert run["output"] == "I created the Work Run."
    assert run["model_calls"] == 2 and run["tool_calls"] == 1
    tasks = _tasks(operator, project["project_id"])
    assert len(tasks) == 1
    # The tool's answer to the model is the Work Run's status, in the model's second request.
    second = model.model_requests()[1].body["messages"]
    assert any(m["role"] == "tool" and tasks[0]["task_id"] in m["content"] for m in second)
    # The vendor key was added by the relay, never by the agent.
    assert all(
        req.headers["authorization"] == "Bearer sk-canary-agent-vendor-key-3f9a1c7e"
        for req in model.model_requests()
    )


def test_run_id_makes_run_idempotent(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    agent = make_agent()
    model.script(Message("once"))
    body = {"input": "hello", "run_id": "run-idem-" + agent["agent_id"]}
    first = operator.post(f"/api/agents/{agent['agent_id']}/run", json=body).json()
    again = operator.post(f"/api/agents/{agent['agent_id']}/run", json=body).json()
    assert first["status"] == again["status"] == "completed"
    assert again["output"] == "once"
    assert len(model.model_requests()) == 1


def test_a_second_concurrent_run_is_409_agent_busy(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    agent = make_agent()
    release = threading.Event()
    model.script(Hold(release, Message("first done")))
    path = f"/api/agents/{agent['agent_id']}/run"
    first = operator.post(path, json={"input": "one", "wait_s": 0}).json()
    assert first["status"] == "running"
    try:
        second = operator.post(path, json={"input": "two", "wait_s": 0})
        assert second.status_code == 409, second.text
        assert second.json()["code"] == "agent_busy"
    finally:
        release.set()
    done = wait_run(
        operator, agent["agent_id"], first["run_id"], lambda d: d["status"] != "running"
    )
    assert done["status"] == "completed"


def test_operator_approval_stops_the_run_until_approved(
    operator: httpx.Client,
    project: dict[str, str],
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    agent = make_agent(policies={"create_dev_task": "operator_approval"})
    model.script(
        FunctionCall("create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}),
        Message("done after approval"),
    )
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "go"}).json()
    assert run["status"] == "awaiting_input", run
    pending = run["pending"]
    assert pending["reason"] == "approval" and pending["tool"] == "create_dev_task"
    assert pending["arguments"]["backend"] == "deterministic_proof"
    assert _tasks(operator, project["project_id"]) == []  # nothing ran before the decision
    r = operator.post(
        f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/approve",
        json={"request_id": pending["request_id"]},
    )
    assert r.status_code == 200, r.text
    done = wait_run(operator, agent["agent_id"], run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed" and done["output"] == "done after approval"
    assert len(_tasks(operator, project["project_id"])) == 1
    # The run's stream, as the dashboard draws it (operator session; `after` pages).
    events_url = f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/events"
    events = operator.get(events_url).json()
    types = [e["event_type"] for e in events]
    assert types[0] == "AgentRunStarted" and types[-1] == "AgentRunFinished", types
    assert "AgentApprovalRequested" in types and "AgentApprovalDecided" in types
    assert [e["stream_version"] for e in events] == list(range(1, len(events) + 1))
    decided = events[types.index("AgentApprovalDecided")]["payload"]
    assert decided["approved"] is True and decided["decided_by"] == "admin"
    assert operator.get(events_url, params={"after": len(events) - 1}).json() == events[-1:]
    assert (
        operator.get(f"/api/agents/{agent['agent_id']}/runs/no-such-run/events").status_code == 404
    )


def test_a_declined_tool_call_is_answered_to_the_model_and_never_runs(
    operator: httpx.Client,
    project: dict[str, str],
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    agent = make_agent(policies={"create_dev_task": "operator_approval"})
    model.script(
        FunctionCall("create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}),
        Message("understood, not creating it"),
    )
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "go"}).json()
    r = operator.post(f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/decline", json={})
    assert r.status_code == 200, r.text
    done = wait_run(operator, agent["agent_id"], run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed"
    assert _tasks(operator, project["project_id"]) == []
    tool_messages = [m for m in model.model_requests()[1].body["messages"] if m["role"] == "tool"]
    assert "declined" in tool_messages[0]["content"]


def test_an_exhausted_budget_waits_for_a_grant(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    agent = make_agent(budget={"model_calls": 1})
    model.script(FunctionCall("remember", {"note": "budget test"}), Message("finished"))
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "go"}).json()
    assert run["status"] == "awaiting_input", run
    assert run["pending"]["reason"] == "budget"
    assert len(model.model_requests()) == 1
    r = operator.post(
        f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/approve",
        json={"grant": {"model_calls": 1}},
    )
    assert r.status_code == 200, r.text
    done = wait_run(operator, agent["agent_id"], run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed" and done["output"] == "finished"
    assert len(model.model_requests()) == 2


def test_a_token_budget_is_enforced_at_the_relay_and_a_grant_raises_it(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    # One scripted answer reports 15 tokens: the first call starts under a budget of 10, the
    # second is refused by the relay before the model sees it.
    agent = make_agent(budget={"tokens": 10})
    model.script(FunctionCall("remember", {"note": "tokens"}), Message("finished"))
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "go"}).json()
    assert run["status"] == "awaiting_input", run
    assert run["pending"]["reason"] == "budget"
    assert "token budget spent" in run["pending"]["why"]
    assert len(model.model_requests()) == 1
    r = operator.post(
        f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/approve",
        json={"grant": {"tokens": 100}},
    )
    assert r.status_code == 200, r.text
    done = wait_run(operator, agent["agent_id"], run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed" and done["output"] == "finished"
    assert len(model.model_requests()) == 2


def test_a_wall_time_budget_is_enforced_at_the_relay_and_a_grant_raises_it(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    # A millisecond of wall time is spent before the first call reaches the relay.
    agent = make_agent(budget={"wall_s": 0.001})
    model.script(Message("after the grant"))
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "go"}).json()
    assert run["status"] == "awaiting_input", run
    assert run["pending"]["reason"] == "budget"
    assert "wall-time budget spent" in run["pending"]["why"]
    assert model.model_requests() == []
    r = operator.post(
        f"/api/agents/{agent['agent_id']}/runs/{run['run_id']}/approve",
        json={"grant": {"wall_s": 120}},
    )
    assert r.status_code == 200, r.text
    done = wait_run(operator, agent["agent_id"], run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed" and done["output"] == "after the grant"
    assert len(model.model_requests()) == 1


def test_the_relay_counts_an_agents_calls_itself_and_refuses_past_the_budget(
    pooled_gateway: GatewayServer,
    operator: httpx.Client,
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    """A call the relay answered counts before any stream records it: a second caller with
    the agent's token (a runtime that does not record, a replay) is refused, unforwarded."""
    agent = make_agent(budget={"model_calls": 1})
    agent_id = agent["agent_id"]
    release = threading.Event()
    model.script(Hold(release, Message("the one call")))
    run = operator.post(f"/api/agents/{agent_id}/run", json={"input": "go", "wait_s": 0}).json()
    deadline = time.monotonic() + 30
    while len(model.model_requests()) < 1:  # the run's one call is in flight, unrecorded
        assert time.monotonic() < deadline, "the model call never came"
        time.sleep(0.05)
    token = pooled_gateway.task_token(agent_id=agent_id, scopes=["relay:model", "agent:runtime"])
    relay = pooled_gateway.client()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "one more"}]}

    def call(headers: dict[str, str]) -> httpx.Response:
        return relay.post(
            "/relay/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {token['token']}", **headers},
        )

    refused = call({"X-Hive-Agent-Run": run["run_id"]})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "budget_exhausted"
    assert "model call budget spent (1 of 1)" in refused.json()["detail"]
    # An agent's call must name its run, one of its own.
    assert call({}).status_code == 422
    assert call({"X-Hive-Agent-Run": "no-such-run"}).json()["code"] == "not_found"
    assert len(model.model_requests()) == 1  # none of these reached the model
    release.set()
    done = wait_run(operator, agent_id, run["run_id"], lambda d: d["status"] != "running")
    assert done["status"] == "completed" and done["output"] == "the one call"


def test_flush_memory_writes_the_days_file(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    agent = make_agent()
    model.script(FunctionCall("remember", {"note": "the build uses uv"}), Message("noted"))
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "remember"}).json()
    assert run["status"] == "completed", run
    r = operator.post(f"/api/agents/{agent['agent_id']}/flush-memory")
    assert r.status_code == 200, r.text
    flushed = r.json()
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert flushed["files"] == [f"memory/{day}.md"] and flushed["notes"] == 1
    workspace = Path(agent["health"]["workspace"])
    text = (workspace / "memory" / f"{day}.md").read_text()
    assert "the build uses uv" in text
    # A second flush writes nothing twice.
    again = operator.post(f"/api/agents/{agent['agent_id']}/flush-memory").json()
    assert again["notes"] == 0
    assert (workspace / "memory" / f"{day}.md").read_text() == text


def test_memory_past_its_bound_is_a_clear_422(
    operator: httpx.Client, make_agent: AgentFactory, model: ScriptedModelServer
) -> None:
    agent = make_agent(memory_max_bytes=64)
    model.script(FunctionCall("remember", {"note": "x" * 200}), Message("noted"))
    run = operator.post(f"/api/agents/{agent['agent_id']}/run", json={"input": "remember"}).json()
    assert run["status"] == "completed", run
    r = operator.post(f"/api/agents/{agent['agent_id']}/flush-memory")
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "memory_limit"
    assert "64 bytes" in r.json()["detail"]
    assert not (Path(agent["health"]["workspace"]) / "memory").exists()


def test_agents_api_lists_gets_and_deletes(
    operator: httpx.Client, project: dict[str, str], make_agent: AgentFactory
) -> None:
    agent = make_agent(agent_id=f"scout.{project['project_id']}")
    listed = operator.get("/api/agents").json()
    assert agent["agent_id"] in [a["agent_id"] for a in listed]
    got = operator.get(f"/api/agents/{agent['agent_id']}").json()
    health = got["health"]
    for field in ("status", "role", "workspace", "runtime_ready", "agent_id", "project_id",
                  "controller_id", "deployment_backend", "readiness_reason"):  # fmt: skip
        assert field in health
    assert health["agent_id"] == agent["agent_id"] and got["silent"] is False
    again = operator.post(
        "/api/agents",
        json={"project_id": project["project_id"], "role": "x", "model": "m",
              "agent_id": agent["agent_id"]},
    )  # fmt: skip
    assert again.status_code == 409
    hostile = operator.post(
        "/api/agents",
        json={"project_id": project["project_id"], "role": "x", "model": "m",
              "agent_id": "../../etc x"},
    )  # fmt: skip
    assert hostile.status_code == 422 and hostile.json()["code"] == "validation_failed"
    assert operator.delete(f"/api/agents/{agent['agent_id']}").status_code == 204
    assert operator.get(f"/api/agents/{agent['agent_id']}").status_code == 404


def test_an_agent_token_cannot_decide_or_touch_another_agents_run(
    pooled_gateway: GatewayServer,
    operator: httpx.Client,
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    one, two = make_agent(), make_agent()
    model.script(Message("hi"))
    run = operator.post(f"/api/agents/{one['agent_id']}/run", json={"input": "x"}).json()
    token = pooled_gateway.task_token(agent_id=two["agent_id"], scopes=["agent:runtime"])["token"]
    intruder = pooled_gateway.client(headers={"Authorization": f"Bearer {token}"})
    r = intruder.get(f"/internal/agent-runs/{run['run_id']}/events")
    assert r.status_code == 404
    own = pooled_gateway.task_token(agent_id=one["agent_id"], scopes=["agent:runtime"])["token"]
    agent = pooled_gateway.client(headers={"Authorization": f"Bearer {own}"})
    events = agent.get(f"/internal/agent-runs/{run['run_id']}/events").json()
    decided = {
        "type": "AgentApprovalDecided",
        "request_id": "r",
        "approved": True,
        "recorded_at": "2026-01-01T00:00:00Z",
    }
    r = agent.post(
        f"/internal/agent-runs/{run['run_id']}/events",
        json={"expected_version": len(events), "events": [decided]},
    )
    assert r.status_code == 403, r.text
    relay_only = pooled_gateway.task_token(agent_id=one["agent_id"])["token"]
    r = pooled_gateway.client(headers={"Authorization": f"Bearer {relay_only}"}).get(
        f"/internal/agent-runs/{run['run_id']}/events"
    )
    assert r.status_code == 403 and r.json()["code"] == "token_scope"


async def test_an_agent_runtime_renews_its_token_through_the_gateway(
    pooled_gateway: GatewayServer, make_agent: AgentFactory
) -> None:
    from hive.agent.gateway_host import GatewayAgentHost
    from hive.contracts.tokens import lifetime_of

    agent = make_agent()
    short = pooled_gateway.task_token(
        agent_id=agent["agent_id"], scopes=["relay:model", "agent:runtime"], ttl_s=30
    )["token"]
    host = GatewayAgentHost(pooled_gateway.url, agent["agent_id"], short)
    try:
        assert await host.read_run("no-such-run") == []
        assert host.token != short
        renewed, first = lifetime_of(host.token), lifetime_of(short)
        assert renewed is not None and first is not None and renewed[1] > first[1] + 60
        other = pooled_gateway.task_token(agent_id="someone", scopes=["agent:runtime"])["token"]
        r = httpx.post(
            f"{pooled_gateway.url}/internal/agents/{agent['agent_id']}/token",
            headers={"Authorization": f"Bearer {other}"},
        )
        assert r.status_code == 404  # a token renews only its own agent's
    finally:
        await host.aclose()
