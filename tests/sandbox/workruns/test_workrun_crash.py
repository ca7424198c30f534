"""kill -9 a sandbox mid-run: the task turns stale, then resume (or requeue) finishes it.

Real sandbox processes under granian, a real database, real git repos on disk.
The plan sleeps after checkpoint k so the kill lands between two checkpoints.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

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

K = 2  # kill after the checkpoint of step K
PLAN = plan(
    {"write": {"path": "feature.txt", "content": "one\n"}},
    {"artifact": {"name": "attempt-notes.txt", "content": "written by the first attempt"}},
    {"write": {"path": "src/app.py", "content": "print('patched')\n"}},
    {"sleep": {"seconds": 1.5}},  # the kill lands here
    {"write": {"path": "after-resume.txt", "content": "two\n"}},
    {"artifact": {"name": "final.txt", "content": "done"}},
)


def _run_until_killed(
    workrun_db: str, root: Path, target: Path
) -> tuple[Any, str, list[dict[str, Any]]]:
    """Start a sandbox, create the task, kill -9 the sandbox after checkpoint K."""
    first = start_sandbox(workrun_db, root)
    try:
        with first.client() as http:
            r = http.post(
                "/dev-tasks",
                json={
                    "project_id": "crash",
                    "instructions": PLAN,
                    "workspace": {"requested_path": str(target)},
                },
            )
            assert r.status_code == 201, r.text
            task_id = r.json()["task_id"]
            wait_status(
                http,
                task_id,
                lambda st: (
                    (st["latest_checkpoint"] or {}).get("checkpoint_payload", {}).get("step") == K
                ),
                timeout_s=30,
            )
    finally:
        first.kill()
    second = start_sandbox(workrun_db, root)
    with second.client() as http:
        before = events(http, task_id)
    return second, task_id, before


def _git_status(path: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
        env={"GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"},
    ).stdout


@pytest.mark.slow
def test_kill9_stale_resume_in_place_then_approve(workrun_db: str, tmp_path: Path) -> None:
    target = git_repo_with(tmp_path / "target", {"src/app.py": "print('original')\n"})
    server, task_id, before_kill = _run_until_killed(workrun_db, tmp_path / "sandbox", target)
    try:
        with server.client() as http:
            stale = wait_status(http, task_id, in_state("stale"), timeout_s=30)
            assert stale["attempts"][0]["state"] == "stale"
            assert stale["runtime"]["heartbeat_at"] is not None
            durable_seq = stale["latest_checkpoint"]["checkpoint_sequence_no"]
            assert step_of(stale["latest_checkpoint"]) == K

            r = http.post(f"/dev-tasks/{task_id}/resume")
            assert r.status_code == 200, r.text
            resumed = r.json()
            assert resumed["state"] == "running" and resumed["current_attempt_no"] == 2
            assert resumed["attempts"][1]["resumed_from_checkpoint"] == durable_seq

            done = wait_status(http, task_id, in_state("awaiting_review"), timeout_s=30)
            evs = events(http, task_id)
            assert_stream_sound(evs)
            assert evs[: len(before_kill)] == before_kill  # history is append-only
            by_attempt: dict[int, list[int]] = {}
            for cp in checkpoints(evs):
                by_attempt.setdefault(cp["attempt_no"], []).append(step_of(cp))
            # Attempt 2 continued after checkpoint K; no checkpointed step ran twice.
            assert by_attempt == {1: list(range(K + 1)), 2: list(range(K + 1, 6))}
            arts = {a["name"]: a for a in done["artifacts"]}
            assert arts["attempt-notes.txt"]["attempt_no"] == 1  # still listed after attempt 2
            assert arts["final.txt"]["attempt_no"] == 2
            r = http.get(f"/dev-tasks/{task_id}/artifacts/attempt-notes.txt")
            assert r.content == b"written by the first attempt"

            patch = http.get(f"/dev-tasks/{task_id}/patch")
            assert patch.headers["content-type"].startswith("text/x-diff")
            assert "+print('patched')" in patch.text and "after-resume.txt" in patch.text
            assert _git_status(target) == ""  # nothing touched before approval

            r = http.post(f"/dev-tasks/{task_id}/approve", json={"actor": "tester"})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "applied"
        assert (target / "src" / "app.py").read_text() == "print('patched')\n"
        assert (target / "feature.txt").read_text() == "one\n"
        assert (target / "after-resume.txt").read_text() == "two\n"
        assert sorted(_git_status(target).split("\n")[:-1]) == [
            " M src/app.py",
            "?? after-resume.txt",
            "?? feature.txt",
        ]
    finally:
        server.stop()


@pytest.mark.slow
def test_kill9_stale_then_requeue_runs_fresh_and_applies(workrun_db: str, tmp_path: Path) -> None:
    target = git_repo_with(tmp_path / "target", {"src/app.py": "print('original')\n"})
    server, task_id, _ = _run_until_killed(workrun_db, tmp_path / "sandbox", target)
    try:
        with server.client() as http:
            wait_status(http, task_id, in_state("stale"), timeout_s=30)
            r = http.post(f"/dev-tasks/{task_id}/requeue", json={"reason": "fork it"})
            assert r.status_code == 201, r.text
            new = r.json()
            new_id = new["task_id"]
            assert new_id != task_id and new["requeued_from"] == task_id
            old = status(http, task_id)
            assert old["requeued_to"] == new_id and old["state"] == "stale"
            # The old task can no longer be resumed or requeued: it was forked.
            for action in ("resume", "requeue"):
                r = http.post(f"/dev-tasks/{task_id}/{action}")
                assert r.status_code == 409 and r.json()["code"] == "invalid_state_transition"

            done = wait_status(http, new_id, in_state("awaiting_review"), timeout_s=30)
            assert [a["attempt_no"] for a in done["attempts"]] == [1]
            assert done["attempts"][0]["resumed_from_checkpoint"] is None
            evs = events(http, new_id)
            assert_stream_sound(evs)
            assert [step_of(cp) for cp in checkpoints(evs)] == list(range(6))  # from scratch
            assert {a["name"] for a in done["artifacts"]} == {"attempt-notes.txt", "final.txt"}
            r = http.post(f"/dev-tasks/{new_id}/approve")
            assert r.json()["state"] == "applied", r.text
        assert (target / "after-resume.txt").read_text() == "two\n"
        assert (target / "src" / "app.py").read_text() == "print('patched')\n"
    finally:
        server.stop()


@pytest.mark.slow
def test_graceful_shutdown_marks_running_attempts_stale_at_once(
    workrun_db: str, tmp_path: Path
) -> None:
    root = tmp_path / "sandbox"
    first = start_sandbox(workrun_db, root, HIVE_SANDBOX_LEASE_TTL_S="600")
    with first.client() as http:
        r = http.post(
            "/dev-tasks",
            json={"project_id": "crash", "instructions": plan({"sleep": {"seconds": 30}})},
        )
        task_id = r.json()["task_id"]
        wait_status(http, task_id, lambda st: st["runtime"]["heartbeat_at"] is not None)
    first.stop()  # SIGTERM: the replica hands its attempt back instead of holding a 600 s lease
    second = start_sandbox(workrun_db, root, HIVE_SANDBOX_LEASE_TTL_S="600")
    try:
        with second.client() as http:
            st = status(http, task_id)
            assert st["state"] == "stale", st
            assert "shutting down" in st["reason"]
    finally:
        second.stop()
