"""Two sandbox processes on one database (and one task volume) share 20 Work Runs.

Each plan step is a governed command that appends its step number to
`ran.log` in the task's repo, so the repo itself counts executions. One
replica is killed with SIGKILL while both hold attempts: its attempts turn
stale, resume on the survivor, and every task still finishes with every step
executed - checkpointed steps exactly once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.sandbox.workruns.domain import plan
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

TASKS = 20
STEPS = 4


def _plan() -> str:
    steps: list[dict[str, Any]] = []
    for i in range(STEPS):
        code = f"open('ran.log', 'a').write('{i}\\n')"
        steps.append({"run": {"argv": [Path(sys.executable).name, "-c", code]}})
        steps.append({"sleep": {"seconds": 0.4}})
    return plan(*steps)


def _owners(database_url: str) -> dict[str, str]:
    """Which replica holds each leased attempt (read straight from the lease rows)."""

    async def read() -> dict[str, str]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT task_id, owner FROM work_run_leases WHERE state = 'leased'"
            )
        finally:
            await conn.close()
        return {r["task_id"]: r["owner"] for r in rows}

    loop = asyncio.new_event_loop()  # a private loop: this test is sync
    try:
        return loop.run_until_complete(read())
    finally:
        loop.close()


def _ran(root: Path, task_id: str) -> list[int]:
    log = root / "tasks" / task_id / "repo" / "ran.log"
    return [int(x) for x in log.read_text().split()] if log.exists() else []


@pytest.mark.slow
def test_two_replicas_share_twenty_runs_and_survive_a_kill(workrun_db: str, tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    a = start_sandbox(workrun_db, root, HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS="3")
    b = start_sandbox(workrun_db, root, HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS="3")
    a_pid = str(a.worker_pid())
    try:
        with b.client() as http:
            ids = []
            for n in range(TASKS):
                r = http.post(
                    "/dev-tasks", json={"project_id": f"rep-{n % 2}", "instructions": _plan()}
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["task_id"])

            # Kill A once both replicas hold attempts.
            seen_owners: set[str] = set()
            deadline = time.monotonic() + 30
            while True:
                owners = _owners(workrun_db)
                seen_owners |= set(owners.values())
                on_a = [t for t, o in owners.items() if f":{a_pid}:" in o]
                if on_a and len(set(owners.values())) == 2:
                    break
                assert time.monotonic() < deadline, f"replicas never both ran: {owners}"
                time.sleep(0.02)
            a.kill()
            assert len(seen_owners) >= 2

            # A's attempts turn stale (B sweeps them); resume each on B. One that A
            # finished between the lease snapshot and the kill has nothing to resume.
            for task_id in on_a:
                st = wait_status(http, task_id, in_state("stale", "awaiting_review"), timeout_s=30)
                if st["state"] == "stale":
                    r = http.post(f"/dev-tasks/{task_id}/resume")
                    assert r.status_code == 200, r.text
            final = {
                t: wait_status(http, t, in_state("awaiting_review"), timeout_s=90) for t in ids
            }
            listed = http.get("/dev-tasks", params={"project_id": "rep-0"}).json()
            assert isinstance(listed, list), listed
            assert {t["task_id"] for t in listed} == set(ids[0::2])

            for task_id in ids:
                st = final[task_id]
                evs = events(http, task_id)
                assert_stream_sound(evs)
                steps = [step_of(cp) for cp in checkpoints(evs)]
                # No checkpoint number reused (assert_stream_sound) and no step recorded twice.
                assert steps == list(range(2 * STEPS)), steps
                ran = _ran(root, task_id)
                assert sorted(set(ran)) == list(range(STEPS))
                if task_id in on_a:
                    assert [x["attempt_no"] for x in st["attempts"]] == [1, 2]
                    first = [step_of(cp) for cp in checkpoints(evs) if cp["attempt_no"] == 1]
                    done_before_kill = {s // 2 for s in first if s % 2 == 0}
                    # Steps checkpointed before the kill ran once; at most the step in
                    # flight at the kill ran again.
                    assert all(ran.count(s) == 1 for s in done_before_kill), ran
                    assert len(ran) - STEPS <= 1, ran
                else:
                    assert [x["attempt_no"] for x in st["attempts"]] == [1]
                    assert ran == list(range(STEPS)), ran  # every step exactly once
            assert status(http, ids[0])["runtime"]["execution_class"] == "in_process"
    finally:
        a.kill()
        b.stop()
