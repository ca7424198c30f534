"""The project-scoped dev-task facade, end to end through the real sandbox.

The sandbox runs the `deterministic_proof` backend, so Work Runs really execute:
seed, attempt, checkpoints, governed commands, patch, review, apply-back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hive.contracts.sse import SSEDecoder
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer


def _plan(*steps: dict[str, Any]) -> str:
    return json.dumps({"steps": list(steps)})


def _create(admin: httpx.Client, project_id: str, *steps: dict[str, Any]) -> dict[str, Any]:
    r = admin.post(
        f"/api/projects/{project_id}/dev-tasks",
        json={"instructions": _plan(*steps), "backend": "deterministic_proof"},
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _wait(
    admin: httpx.Client, project_id: str, task_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status: dict[str, Any] = admin.get(f"/api/projects/{project_id}/dev-tasks/{task_id}").json()
        if done(status):
            return status
        assert time.monotonic() < deadline, f"task stuck in {status['state']}: {status}"
        time.sleep(0.1)


@pytest.fixture
def other_project(admin: httpx.Client, tmp_path: Path) -> dict[str, str]:
    """A second project, whose operator path must not reach the first one's tasks."""
    ws = tmp_path / "other-ws"
    ws.mkdir()
    r = admin.post(
        "/api/projects", json={"name": f"other-{tmp_path.name}", "workspace_path": str(ws)}
    )
    assert r.status_code == 201
    doc: dict[str, str] = r.json()
    return doc


def test_a_task_is_reachable_only_through_its_own_project(
    admin: httpx.Client, project: dict[str, str], other_project: dict[str, str]
) -> None:
    mine, theirs = project["project_id"], other_project["project_id"]
    task = _create(admin, mine)
    task_id = task["task_id"]
    assert task["project_id"] == mine
    assert admin.get(f"/api/projects/{mine}/dev-tasks/{task_id}").status_code == 200
    for method, suffix in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/patch"),
        ("GET", "/artifacts"),
        ("GET", "/commands"),
        ("POST", "/approve"),
        ("POST", "/reject"),
        ("POST", "/resume"),
        ("POST", "/requeue"),
        ("POST", "/cancel"),
    ]:
        r = admin.request(method, f"/api/projects/{theirs}/dev-tasks/{task_id}{suffix}")
        assert r.status_code == 404, (method, suffix, r.text)
    listed_mine = [t["task_id"] for t in admin.get(f"/api/projects/{mine}/dev-tasks").json()]
    listed_theirs = [t["task_id"] for t in admin.get(f"/api/projects/{theirs}/dev-tasks").json()]
    assert task_id in listed_mine and task_id not in listed_theirs
    # The task was not touched by the refused actions.
    state = admin.get(f"/api/projects/{mine}/dev-tasks/{task_id}").json()["state"]
    assert state != "cancelled"
    assert admin.get(f"/api/projects/{mine}/dev-tasks/no-such-task").status_code == 404
    assert admin.get("/api/projects/prj_nope/dev-tasks").status_code == 404


def test_review_flow_applies_the_patch_to_the_project_workspace(
    admin: httpx.Client, project: dict[str, str]
) -> None:
    pid = project["project_id"]
    task_id = _create(admin, pid, {"write": {"path": "hello.txt", "content": "hi there\n"}})[
        "task_id"
    ]
    status = _wait(admin, pid, task_id, lambda s: s["state"] in ("awaiting_review", "failed"))
    assert status["state"] == "awaiting_review", status
    patch = admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}/patch")
    assert patch.status_code == 200
    assert patch.headers["content-type"].startswith("text/x-diff")
    assert "+hi there" in patch.text
    approved = admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/approve", json={})
    assert approved.status_code == 200, approved.text
    final = _wait(admin, pid, task_id, lambda s: s["state"] in ("applied", "apply_failed"))
    assert final["state"] == "applied", final
    assert (Path(project["workspace_path"]) / "hello.txt").read_text() == "hi there\n"
    events = admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}/events").json()
    approvals = [e["payload"] for e in events if e["event_type"] == "TaskApproved"]
    # The session decides who acts, whatever the body claims.
    assert approvals and approvals[0]["approved_by"] == "admin"


def test_reject_and_requeue_stay_inside_the_project(
    admin: httpx.Client, project: dict[str, str]
) -> None:
    pid = project["project_id"]
    task_id = _create(admin, pid, {"write": {"path": "a.txt", "content": "a\n"}})["task_id"]
    _wait(admin, pid, task_id, lambda s: s["state"] == "awaiting_review")
    rejected = admin.post(
        f"/api/projects/{pid}/dev-tasks/{task_id}/reject",
        json={"reason": "not today", "actor": "mallory"},
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    requeued = admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/requeue", json={})
    assert requeued.status_code in (200, 201), requeued.text
    doc = requeued.json()
    new_id = doc["requeued_to"] if doc["task_id"] == task_id else doc["task_id"]
    assert new_id and new_id != task_id
    again = admin.get(f"/api/projects/{pid}/dev-tasks/{new_id}")
    assert again.status_code == 200 and again.json()["requeued_from"] == task_id
    # A repeated review action is the sandbox's conflict, passed through.
    conflict = admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/approve", json={})
    assert conflict.status_code == 409


def test_events_follow_live_over_sse(admin: httpx.Client, project: dict[str, str]) -> None:
    pid = project["project_id"]
    task_id = _create(
        admin,
        pid,
        {"write": {"path": "one.txt", "content": "1\n"}},
        {"sleep": {"seconds": 1.5}},
        {"write": {"path": "two.txt", "content": "2\n"}},
    )["task_id"]
    seen: list[str] = []
    first_at_state = None
    decoder = SSEDecoder()
    with admin.stream(
        "GET",
        f"/api/projects/{pid}/dev-tasks/{task_id}/events",
        headers={"Accept": "text/event-stream"},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for chunk in r.iter_bytes():
            for event in decoder.feed(chunk):
                if not event.event:
                    continue
                seen.append(event.event)
                if first_at_state is None:
                    # Read while the task is still going: the stream is not buffered.
                    first_at_state = admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}").json()[
                        "state"
                    ]
            if "PatchProposed" in seen or "AttemptFinished" in seen:
                break
    assert seen[0] == "DevTaskCreated"
    assert first_at_state in ("queued", "running")
    assert "CheckpointRecorded" in seen


def test_command_logs_stream_through_the_facade(
    admin: httpx.Client, project: dict[str, str], other_project: dict[str, str]
) -> None:
    pid = project["project_id"]
    task_id = _create(
        admin,
        pid,
        {"run": {"argv": ["echo", "from-a-governed-command"]}},
        {"write": {"path": "x.txt", "content": "x\n"}},
    )["task_id"]
    _wait(admin, pid, task_id, lambda s: s["state"] in ("awaiting_review", "failed"))
    commands = admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}/commands").json()
    echo = next(c for c in commands if c["argv"][0].endswith("echo"))
    base = f"/api/projects/{pid}/dev-tasks/{task_id}/commands/{echo['command_id']}"
    assert admin.get(base).json()["task_id"] == task_id
    log = admin.get(base + "/log", params={"stream": "stdout"})
    assert log.status_code == 200
    assert log.text == "from-a-governed-command\n"
    assert log.headers["x-log-size"] == str(len(log.content))
    # The same command through another project, or another task of this project: 404.
    theirs = other_project["project_id"]
    assert (
        admin.get(
            f"/api/projects/{theirs}/dev-tasks/{task_id}/commands/{echo['command_id']}"
        ).status_code
        == 404
    )
    sibling = _create(admin, pid)["task_id"]
    assert (
        admin.get(
            f"/api/projects/{pid}/dev-tasks/{sibling}/commands/{echo['command_id']}/log"
        ).status_code
        == 404
    )


def test_cancel_through_the_facade(admin: httpx.Client, project: dict[str, str]) -> None:
    pid = project["project_id"]
    task_id = _create(admin, pid, {"sleep": {"seconds": 30}})["task_id"]
    r = admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/cancel", json={"reason": "enough"})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"


def test_a_separate_sandbox_gets_the_workspace_as_an_archive(
    database_url: str, gw_sandbox: SandboxServer, tmp_path: Path
) -> None:
    workspace = tmp_path / "repo"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "main.py").write_text("print('seeded')\n")
    gw = GatewayServer.start(
        database_url,
        tmp=tmp_path / "gw",
        sandbox_url=gw_sandbox.url,
        env={"HIVE_SANDBOX_WORKSPACE_VISIBILITY": "separate"},
    )
    try:
        admin = gw.login()
        project = admin.post(
            "/api/projects",
            json={"name": f"archived-{tmp_path.name}", "workspace_path": str(workspace)},
        ).json()
        task = _create(admin, project["project_id"])
        manifest = task["workspace_manifest"]
        assert manifest["source_archive_present"] is True
        assert manifest["repo_path_class"] == "archive_seed"
        assert manifest["requested_path"] == str(workspace)
    finally:
        gw.stop()


def test_a_shared_sandbox_copies_the_requested_path(
    admin: httpx.Client, project: dict[str, str]
) -> None:
    manifest = _create(admin, project["project_id"])["workspace_manifest"]
    assert manifest["source_archive_present"] is False
    assert manifest["repo_path_class"] == "requested_path_copy"


def test_answers_carry_gateway_urls_only(admin: httpx.Client, project: dict[str, str]) -> None:
    """Command log URLs and problem instances name gateway routes that answer."""
    pid = project["project_id"]
    task_id = _create(admin, pid, {"run": {"argv": ["ls"]}})["task_id"]
    _wait(admin, pid, task_id, lambda s: s["state"] in ("awaiting_review", "failed"))
    base = f"/api/projects/{pid}/dev-tasks/{task_id}"
    listed = admin.get(base + "/commands").json()
    one = admin.get(f"{base}/commands/{listed[0]['command_id']}").json()
    for command in (listed[0], one):
        for stream in ("stdout", "stderr"):
            url = command["retrieval"][stream]
            assert url == f"{base}/commands/{command['command_id']}/log?stream={stream}"
            assert admin.get(url).status_code == 200
    bad = admin.post(
        f"/api/projects/{pid}/dev-tasks",
        json={"instructions": "not a plan", "backend": "deterministic_proof"},
    )
    assert bad.status_code == 422
    assert bad.json()["instance"] == f"/api/projects/{pid}/dev-tasks"
    missing = admin.get(base + "/artifacts/no-such-artifact")  # a forwarded stream's problem
    assert missing.status_code == 404
    assert missing.json()["instance"] == base + "/artifacts/no-such-artifact"


def test_a_workspace_removed_after_the_project_is_named_as_the_cause(
    admin: httpx.Client, tmp_path: Path
) -> None:
    ws = tmp_path / "gone"
    ws.mkdir()
    r = admin.post(
        "/api/projects", json={"name": f"gone-{tmp_path.name}", "workspace_path": str(ws)}
    )
    assert r.status_code == 201, r.text
    ws.rmdir()
    r = admin.post(
        f"/api/projects/{r.json()['project_id']}/dev-tasks",
        json={"instructions": _plan(), "backend": "deterministic_proof"},
    )
    assert r.status_code == 422, r.text
    assert str(ws) in r.json()["detail"] and "missing" in r.json()["detail"]
    assert "archive_b64" not in r.json()["detail"]


def test_a_project_created_without_a_path_runs_its_first_work_run(admin: httpx.Client) -> None:
    """The workspace the gateway creates is a repository a Work Run seeds from and applies to."""
    r = admin.post("/api/projects", json={"name": f"first-{time.monotonic_ns()}"})
    assert r.status_code == 201, r.text
    project = r.json()
    pid = project["project_id"]
    task_id = _create(admin, pid, {"write": {"path": "hello.py", "content": "print('hi')\n"}})[
        "task_id"
    ]
    status = _wait(admin, pid, task_id, lambda s: s["state"] in ("awaiting_review", "failed"))
    assert status["state"] == "awaiting_review", status
    assert (
        admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/approve", json={}).status_code == 200
    )
    final = _wait(admin, pid, task_id, lambda s: s["state"] in ("applied", "apply_failed"))
    assert final["state"] == "applied", final
    assert (Path(project["workspace_path"]) / "hello.py").read_text() == "print('hi')\n"


def test_the_list_pages_by_offset_and_filters_by_task_id(
    admin: httpx.Client, other_project: dict[str, str]
) -> None:
    pid = other_project["project_id"]
    made = [_create(admin, pid)["task_id"] for _ in range(3)]
    for task_id in made:  # settled: a moving task would reorder the pages
        _wait(admin, pid, task_id, lambda s: s["state"] not in ("queued", "running"))
    url = f"/api/projects/{pid}/dev-tasks"
    whole = [t["task_id"] for t in admin.get(url).json()]
    assert sorted(whole) == sorted(made)
    pages = [
        [t["task_id"] for t in admin.get(url, params={"limit": 2, "offset": o}).json()]
        for o in (0, 2, 4)
    ]
    assert pages == [whole[:2], whole[2:], []]
    one = made[1]
    found = admin.get(url, params={"task_id_contains": one[-6:]}).json()
    assert [t["task_id"] for t in found] == [one]
    # LIKE wildcards are matched literally, not as patterns.
    assert admin.get(url, params={"task_id_contains": "%"}).json() == []
    r = admin.get(url, params={"offset": -1})
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
