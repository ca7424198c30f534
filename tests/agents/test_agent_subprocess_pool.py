"""The local_subprocess pool: process environment, crash and resume, orphans.

Real gateway, real agent processes (`hive serve agent`), real sandbox and
database; the model is the scripted OpenAI-compatible server (the test double).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.agents.conftest import (
    VENDOR_KEY,
    AgentFactory,
    start_gateway,
    wait_ready,
    wait_run,
)
from tests.support.sandbox_server import SECRET, SandboxServer
from tests.support.scripted_model import FunctionCall, Hold, Message, ScriptedModelServer

SUBPROCESS = pytest.mark.parametrize("pooled_gateway", ["local_subprocess"], indirect=True)
PLAN = '{"steps": [{"write": {"path": "A.md", "content": "a\\n"}}]}'


def _tree(pid: int) -> list[int]:
    """pid and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return out


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@SUBPROCESS
def test_agent_processes_hold_no_vendor_key_internal_secret_or_database_url(
    make_agent: AgentFactory, database_url: str
) -> None:
    agent = make_agent()
    pid = agent["health"]["pid"]
    assert agent["health"]["deployment_backend"] == "local_subprocess"
    # Confined like a governed child: the hive-confine launcher is the runtime's root.
    assert agent["health"]["confined"] is True
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"hive-confine")
    for p in _tree(pid):
        env = _environ(p)
        blob = "\0".join(f"{k}={v}" for k, v in env.items())
        assert VENDOR_KEY not in blob
        assert SECRET not in blob
        assert database_url not in blob and "DATABASE_URL" not in env
        assert "HIVE_INTERNAL_SECRET" not in env
        # What it does hold: its own agent token, config and the gateway URL.
        assert env["HIVE_AGENT_TOKEN"].startswith("hvt.")
        assert msgspec.json.decode(env["HIVE_AGENT_CONFIG_JSON"])["agent_id"] == agent["agent_id"]


@SUBPROCESS
def test_kill_9_mid_run_restarts_and_resumes_without_repeating_recorded_steps(
    operator: httpx.Client,
    project: dict[str, str],
    make_agent: AgentFactory,
    model: ScriptedModelServer,
) -> None:
    agent = make_agent()
    agent_id = agent["agent_id"]
    release = threading.Event()
    model.script(
        FunctionCall("create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}),
        Hold(release, Message("the killed process never sees this")),
        Message("done after the restart"),
    )
    run = operator.post(f"/api/agents/{agent_id}/run", json={"input": "go", "wait_s": 0}).json()
    assert run["status"] == "running"
    deadline = time.monotonic() + 30
    while len(model.model_requests()) < 2:  # the tool ran; the second model call is in flight
        assert time.monotonic() < deadline, "the second model call never came"
        time.sleep(0.05)
    old_pid = agent["health"]["pid"]
    for pid in _tree(old_pid):  # kill -9 every process of the runtime at once
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    release.set()
    done = wait_run(operator, agent_id, run["run_id"], lambda d: d["status"] != "running", 90)
    assert done["status"] == "completed", done
    assert done["output"] == "done after the restart"
    after = wait_ready(operator, agent_id)
    assert after["health"]["pid"] != old_pid and after["health"]["restarts"] >= 1
    # Exactly one Work Run, although the process died after creating it.
    tasks = operator.get(f"/api/projects/{project['project_id']}/dev-tasks").json()
    tasks = tasks if isinstance(tasks, list) else tasks["items"]
    assert len(tasks) == 1
    # The first model call (answer recorded) was made once; only the unrecorded one again.
    requests = model.model_requests()
    first_turns = [r for r in requests if not any(m["role"] == "tool" for m in r.body["messages"])]
    assert len(first_turns) == 1
    assert done["model_calls"] == 2 and done["tool_calls"] == 1


def test_a_new_gateway_stops_the_runtimes_an_earlier_one_left_and_only_those(
    database_url: str,
    agent_sandbox: SandboxServer,
    agent_model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    # Unconfined runtimes outlive a killed gateway (confined ones die with it: the
    # launcher's death signal), so this is where orphans come from.
    extra = {"HIVE_CONTROLLER_ID": "gw-orphan-test", "HIVE_AGENT_CONFINEMENT": "false"}
    gw = start_gateway(
        database_url, agent_sandbox, agent_model, tmp_path / "gw", "local_subprocess", **extra
    )
    operator = gw.login()
    ws = tmp_path / "ws"
    ws.mkdir()
    project = operator.post("/api/projects", json={"name": "orphans", "workspace_path": str(ws)})
    body: dict[str, Any] = {
        "project_id": project.json()["project_id"],
        "role": "scout",
        "model": "agent-model",
    }
    agent_id = operator.post("/api/agents", json=body).json()["agent_id"]
    old_pid = wait_ready(operator, agent_id)["health"]["pid"]
    # Another controller's runtime record (a stand-in process): never ours to stop.
    records = tmp_path / "gw" / "workspace" / ".agents" / ".pool"
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    ticks = Path(f"/proc/{stranger.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    (records / "stranger.json").write_text(
        msgspec.json.encode(
            {
                "agent_id": "someone-else",
                "controller_id": "gw-another-controller",
                "pid": stranger.pid,
                "start_ticks": int(ticks),
                "port": 1,
            }
        ).decode()
    )
    try:
        gw.kill()  # the gateway dies; its agent runtime (own session) survives as an orphan
        assert Path(f"/proc/{old_pid}").exists()
        gw2 = start_gateway(
            database_url, agent_sandbox, agent_model, tmp_path / "gw", "local_subprocess", **extra
        )
        try:
            operator2 = gw2.login()
            new_pid = wait_ready(operator2, agent_id)["health"]["pid"]
            assert new_pid != old_pid
            deadline = time.monotonic() + 15
            while Path(f"/proc/{old_pid}").exists() and not _zombie(old_pid):
                assert time.monotonic() < deadline, "the orphaned runtime was not stopped"
                time.sleep(0.05)
            assert stranger.poll() is None, "another controller's process was stopped"
            operator2.delete(f"/api/agents/{agent_id}")
        finally:
            gw2.stop()
    finally:
        stranger.kill()
        stranger.wait()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_confined_runtime_dies_with_its_gateway(
    database_url: str,
    agent_sandbox: SandboxServer,
    agent_model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    gw = start_gateway(
        database_url, agent_sandbox, agent_model, tmp_path / "gw", "local_subprocess"
    )
    operator = gw.login()
    ws = tmp_path / "ws"
    ws.mkdir()
    project = operator.post("/api/projects", json={"name": "dies", "workspace_path": str(ws)})
    agent_id = operator.post(
        "/api/agents",
        json={"project_id": project.json()["project_id"], "role": "scout", "model": "agent-model"},
    ).json()["agent_id"]
    pids = _tree(wait_ready(operator, agent_id)["health"]["pid"])
    assert len(pids) >= 2  # the launcher and the runtime under it
    gw.kill()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
        assert time.monotonic() < deadline, "a confined runtime outlived its gateway"
        time.sleep(0.05)


def test_an_agent_whose_health_fails_past_the_threshold_is_shown_silent(
    database_url: str,
    agent_sandbox: SandboxServer,
    agent_model: ScriptedModelServer,
    tmp_path: Path,
) -> None:
    # A runtime that stops answering without exiting (SIGSTOP: no crash for the pool to
    # restart) is `silent` once its health has failed for HIVE_AGENT_SILENT_AFTER_S.
    gw = start_gateway(
        database_url,
        agent_sandbox,
        agent_model,
        tmp_path / "gw",
        "local_subprocess",
        HIVE_AGENT_SILENT_AFTER_S="2",
    )
    stopped: list[int] = []
    try:
        operator = gw.login()
        operator.timeout = httpx.Timeout(30.0)
        ws = tmp_path / "ws"
        ws.mkdir()
        project = operator.post("/api/projects", json={"name": "quiet", "workspace_path": str(ws)})
        body = {"project_id": project.json()["project_id"], "role": "scout", "model": "agent-model"}
        agent_id = operator.post("/api/agents", json=body).json()["agent_id"]
        agent = wait_ready(operator, agent_id)
        assert (agent["status"], agent["silent"]) == ("ready", False)
        stopped = _tree(agent["health"]["pid"])
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

        def view() -> dict[str, Any]:
            doc: dict[str, Any] = operator.get(f"/api/agents/{agent_id}").json()
            return doc

        deadline = time.monotonic() + 30
        while (doc := view())["status"] != "silent":
            assert time.monotonic() < deadline, f"never silent: {doc}"
            time.sleep(0.2)
        assert doc["silent"] is True and doc["health"] is None
        listed = {a["agent_id"]: a for a in _items(operator.get("/api/agents").json())}
        assert listed[agent_id]["status"] == "silent"
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        back = wait_ready(operator, agent_id)
        assert back["silent"] is False and back["status"] == "ready"
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        gw.stop()


def _items(doc: Any) -> list[dict[str, Any]]:
    return list(doc if isinstance(doc, list) else doc["items"])
