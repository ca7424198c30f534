"""The /dev-tasks API against one real sandbox process: fail then resume, concurrent
resumes, hostile archives, the events API and its SSE follow, checkpoints, heartbeat,
artifacts, apply conflicts and task-token scoping."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive.contracts.tokens import issue, sandbox_task_scope
from tests.sandbox.workruns.archives import b64, hostile, member, tar_gz
from tests.sandbox.workruns.domain import git_repo_with, plan
from tests.sandbox.workruns.runs import (
    assert_stream_sound,
    checkpoints,
    events,
    in_state,
    start_sandbox,
    status,
    step_of,
    wait_status,
)
from tests.support.sandbox_server import SandboxServer


@pytest.fixture(scope="module")
def server(workrun_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """One sandbox with the worker on, private to this module's database."""
    srv = start_sandbox(workrun_db, tmp_path_factory.mktemp("wr-http") / "sandbox")
    yield srv
    srv.stop()


def _create(server: SandboxServer, **body: object) -> dict[str, object]:
    with server.client() as http:
        r = http.post("/dev-tasks", json={"project_id": "http", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_fail_step_then_resume_and_exactly_one_concurrent_resume_wins(
    server: SandboxServer,
) -> None:
    steps = plan(
        {"write": {"path": "a.txt", "content": "a\n"}},
        {"fail": {"on_attempt": 1}},
        {"write": {"path": "b.txt", "content": "b\n"}},
    )
    task_id = str(_create(server, instructions=steps)["task_id"])
    with server.client() as http:
        failed = wait_status(http, task_id, in_state("failed"))
        assert failed["attempts"][0]["outcome"] == "failed"
        assert "on purpose" in failed["reason"]
        assert failed["latest_checkpoint"]["checkpoint_payload"]["step"] == 0

        barrier = threading.Barrier(2)
        codes: list[int] = []

        def resume() -> None:
            with server.client() as c:
                barrier.wait()
                codes.append(c.post(f"/dev-tasks/{task_id}/resume").status_code)

        threads = [threading.Thread(target=resume) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [200, 409]

        done = wait_status(http, task_id, in_state("awaiting_review"))
        assert [a["attempt_no"] for a in done["attempts"]] == [1, 2]
        assert done["attempts"][1]["resumed_from_checkpoint"] == 1
        evs = events(http, task_id)
        assert_stream_sound(evs)
        assert [(c["attempt_no"], step_of(c)) for c in checkpoints(evs)] == [(1, 0), (2, 1), (2, 2)]
        assert sum(e["event_type"] == "AttemptStarted" for e in evs) == 2
        diff = http.get(f"/dev-tasks/{task_id}/patch").text
        assert "+a" in diff and "+b" in diff

        r = http.post(f"/dev-tasks/{task_id}/reject", json={"reason": "not today"})
        assert r.json()["state"] == "rejected"
        r = http.post(f"/dev-tasks/{task_id}/approve")
        assert r.status_code == 409 and r.json()["code"] == "invalid_state_transition"


@pytest.mark.parametrize("name", ["zip-slip", "absolute", "symlink-then-write", "hardlink-outside"])
def test_hostile_archive_is_422_and_leaves_no_trace(server: SandboxServer, name: str) -> None:
    tasks = server.root / "tasks"
    before = set(os.listdir(tasks)) if tasks.exists() else set()
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "http",
                "instructions": plan(),
                "workspace": {"archive_b64": b64(hostile()[name])},
                "task_id": f"hostile-{name}",
            },
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "archive_rejected"
        assert http.get(f"/dev-tasks/hostile-{name}").status_code == 404
    assert set(os.listdir(tasks)) == before
    assert (
        not (server.root / "evil.txt").exists() and not (server.root.parent / "evil.txt").exists()
    )
    assert not (server.root.parent / "outside").exists()


def test_size_bomb_archive_is_rejected(server: SandboxServer) -> None:
    with server.client() as http:
        bomb = tar_gz([member("big.bin", bytes(2 << 20))])
        env_limited = start_sandbox(
            server.database_url,
            server.root,
            HIVE_SANDBOX_ARCHIVE_MAX_BYTES=str(1 << 20),
            HIVE_SANDBOX_WORKER="false",
        )
        try:
            with env_limited.client() as limited:
                r = limited.post(
                    "/dev-tasks",
                    json={"project_id": "http", "instructions": plan(),
                          "workspace": {"archive_b64": b64(bomb)}},
                )  # fmt: skip
            assert r.status_code == 422 and r.json()["code"] == "archive_rejected", r.text
        finally:
            env_limited.stop()
        assert http.get("/healthz").status_code == 200


def test_archive_seed_events_sse_checkpoints_heartbeat_and_artifacts(
    server: SandboxServer,
) -> None:
    archive = b64(tar_gz([member("src/lib.py", b"x = 1\n")]))
    steps = plan({"sleep": {"seconds": 2}}, {"write": {"path": "src/lib.py", "content": "x = 2\n"}})
    created = _create(server, instructions=steps, workspace={"archive_b64": archive})
    task_id = str(created["task_id"])
    manifest = created["workspace_manifest"]
    assert isinstance(manifest, dict)
    assert manifest["repo_path_class"] == "archive_seed" and manifest["source_archive_present"]
    assert "archive_b64" not in json.dumps(manifest)
    with server.client() as http:
        wait_status(http, task_id, lambda st: st["runtime"]["heartbeat_at"] is not None)
        # An external backend reports progress through the API while the attempt runs.
        r = http.post(
            f"/dev-tasks/{task_id}/checkpoints",
            json={"checkpoint_payload": {"note": "external"}, "durable": False},
        )
        assert r.status_code == 201, r.text
        assert r.json()["checkpoint_sequence_no"] == 1
        hb = http.post(f"/dev-tasks/{task_id}/heartbeat")
        assert hb.status_code == 200 and hb.json()["attempt_no"] == 1
        content = b"\x00\x01binary"
        r = http.post(
            f"/dev-tasks/{task_id}/artifacts",
            json={"name": "blob.bin", "content_b64": base64.b64encode(content).decode()},
        )
        assert r.status_code == 201 and r.json()["size_bytes"] == len(content)

        # SSE: replay from the start, then follow live until PatchProposed arrives.
        seen: list[tuple[int, str]] = []
        with http.stream(
            "GET", f"/dev-tasks/{task_id}/events", headers={"Accept": "text/event-stream"}
        ) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            ev_id = 0
            for line in resp.iter_lines():
                if line.startswith("id:"):
                    ev_id = int(line[3:].strip())
                elif line.startswith("event:"):
                    seen.append((ev_id, line[6:].strip()))
                    if seen[-1][1] == "AttemptFinished":
                        break
        assert [v for v, _ in seen] == list(range(1, len(seen) + 1))
        kinds = [k for _, k in seen]
        assert kinds[:3] == ["DevTaskCreated", "WorkspaceSeeded", "AttemptStarted"]
        assert "PatchProposed" in kinds and "ArtifactRecorded" in kinds

        after = events(http, task_id, after=3)
        assert after[0]["stream_version"] == 4
        assert http.get(f"/dev-tasks/{task_id}/artifacts/blob.bin").content == content
        listed = {a["name"] for a in http.get(f"/dev-tasks/{task_id}/artifacts").json()}
        assert listed == {"blob.bin"}
        st = status(http, task_id)
        assert st["state"] == "awaiting_review"
        assert st["patch"]["paths"] == ["src/lib.py"]
        # The deterministic steps continued the sequence after the API's checkpoint.
        assert [c["checkpoint_sequence_no"] for c in checkpoints(events(http, task_id))] == [
            1,
            2,
            3,
        ]
        r = http.post(f"/dev-tasks/{task_id}/approve")
        assert r.json()["state"] == "apply_failed"  # seeded from an archive: nowhere to apply
        assert "requested_path" in r.json()["reason"]


def test_apply_conflict_is_apply_failed_and_target_untouched(
    server: SandboxServer, tmp_path: Path
) -> None:
    target = git_repo_with(tmp_path / "target", {"config.txt": "original\n"})
    steps = plan({"write": {"path": "config.txt", "content": "from the sandbox\n"}})
    task_id = str(
        _create(server, instructions=steps, workspace={"requested_path": str(target)})["task_id"]
    )
    with server.client() as http:
        wait_status(http, task_id, in_state("awaiting_review"))
        (target / "config.txt").write_text("edited meanwhile by the operator\n")
        r = http.post(f"/dev-tasks/{task_id}/approve")
        body = r.json()
        assert body["state"] == "apply_failed"
        assert "patch does not apply" in body["reason"]
    assert (target / "config.txt").read_text() == "edited meanwhile by the operator\n"
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=target, capture_output=True, text=True, check=True
    ).stdout
    assert out == " M config.txt\n"


def test_task_token_reaches_only_its_task_and_errors_are_problems(server: SandboxServer) -> None:
    one = str(_create(server, instructions=plan())["task_id"])
    other = str(_create(server, instructions=plan())["task_id"])
    token, _ = issue(server.secret, scopes=[sandbox_task_scope(one)], ttl_s=60, task_id=one)
    with server.client(auth=False) as anon:
        headers = {"Authorization": f"Bearer {token}"}
        assert anon.get(f"/dev-tasks/{one}", headers=headers).status_code == 200
        r = anon.get(f"/dev-tasks/{other}", headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "token_scope"
        assert anon.get("/dev-tasks", headers=headers).status_code == 403
        assert anon.get(f"/dev-tasks/{one}").status_code == 401
    with server.client() as http:
        r = http.get("/dev-tasks/no-such-task")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        r = http.post(
            "/dev-tasks", json={"project_id": "p", "instructions": "x", "backend": "nope"}
        )
        assert r.status_code == 422 and r.json()["code"] == "validation_failed"
        r = http.post("/dev-tasks", json={"project_id": "p", "instructions": "x", "task_id": one})
        assert r.status_code == 409 and r.json()["code"] == "conflict"
        r = http.post(
            "/dev-tasks", json={"project_id": "p", "instructions": "x", "task_id": "../x"}
        )
        assert r.status_code == 422


def test_cancel_stops_a_running_attempt(server: SandboxServer) -> None:
    steps = plan({"sleep": {"seconds": 30}}, {"write": {"path": "never.txt", "content": "x"}})
    task_id = str(_create(server, instructions=steps)["task_id"])
    with server.client() as http:
        wait_status(http, task_id, lambda st: st["runtime"]["heartbeat_at"] is not None)
        r = http.post(f"/dev-tasks/{task_id}/cancel", json={"reason": "operator said stop"})
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        # The worker sees the request on its next heartbeat and ends the attempt.
        done = wait_status(
            http, task_id, lambda st: st["attempts"][0]["state"] == "finished", timeout_s=10
        )
        assert done["state"] == "cancelled"
        assert done["attempts"][0]["outcome"] == "cancelled"
        assert done["patch"] is None
        r = http.post(f"/dev-tasks/{task_id}/resume")
        assert r.status_code == 409


@pytest.mark.parametrize(
    ("instructions", "named"),
    [
        ("Add a hello.py that prints hello", "instructions are not JSON"),
        ('{"plan": []}', "steps list"),
        ('{"steps": [{"paint": {}}]}', "step 0: unknown step 'paint'"),
        ('{"steps": [{"write": {"path": "../x", "content": ""}}]}', "step 0: write path"),
        ('{"steps": [{"sleep": {"seconds": 1}}, {"run": {"argv": "ls"}}]}', "step 1: run argv"),
        ('{"steps": [{"fail": {"on_attempt": 0}}]}', "on_attempt"),
    ],
)
def test_an_invalid_deterministic_plan_is_422_at_create_naming_the_fault(
    server: SandboxServer, instructions: str, named: str
) -> None:
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "http",
                "instructions": instructions,
                "backend": "deterministic_proof",
            },
        )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_failed"
    assert named in r.json()["detail"]
    if "not JSON" in named:  # plain English: the answer teaches the plan format
        assert '{"steps": [...]}' in r.json()["detail"]


def test_healthz_lists_every_backend_with_its_verdict(server: SandboxServer) -> None:
    with server.client() as http:
        backends = http.get("/healthz").json()["backends"]
    assert set(backends) == {"codex_cli", "relay_helper", "deterministic_proof"}
    assert backends["deterministic_proof"] == {
        "usable": True,
        "model_access": "none",
        "reason": None,
        "enable": None,
    }
    for verdict in backends.values():
        assert verdict["usable"] or (verdict["reason"] and verdict["enable"])
