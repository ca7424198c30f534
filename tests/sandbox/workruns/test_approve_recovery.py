"""A crash between TaskApproved and the apply result does not leave a task `approved` forever.

The sandbox that approves runs the test-only entry point tests.support.paused_sandbox,
which sets the `after_approve` seam to pause right after TaskApproved, and is killed
with SIGKILL inside that window. Then either a worker on another replica finishes the apply on its own, or an
operator's second `approve` does; a patch that already landed is recognised
(`git apply --reverse --check`) and recorded as applied, not as a conflict.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hive.contracts.api import CreateDevTask, WorkspaceSpec
from hive.events import create_pool
from hive.sandbox.workruns.apply_lease import apply_lease
from hive.sandbox.workruns.worker import Worker
from tests.sandbox.workruns.conftest import create_migrated_database, drop_database
from tests.sandbox.workruns.domain import build_service, git_repo_with, plan
from tests.sandbox.workruns.runs import events, in_state, start_sandbox, wait_status
from tests.support import paused_sandbox
from tests.support.sandbox_server import SandboxServer

PLAN = plan({"write": {"path": "a.txt", "content": "changed\n"}})


def approved_then_killed(workrun_db: str, root: Path, target: Path) -> str:
    """Run a task to review on a paused sandbox, approve it, kill -9 it after TaskApproved."""
    first = start_sandbox(workrun_db, root, app=paused_sandbox.APP)
    try:
        with first.client() as http:
            r = http.post(
                "/dev-tasks",
                json={
                    "project_id": "approve-crash",
                    "instructions": PLAN,
                    "workspace": {"requested_path": str(target)},
                },
            )
            assert r.status_code == 201, r.text
            task_id = str(r.json()["task_id"])
            wait_status(http, task_id, in_state("awaiting_review"), timeout_s=30)

            def approve() -> None:
                # Answered never: the server dies while it holds this request.
                with first.client(timeout=600) as client, pytest.raises(httpx.HTTPError):
                    client.post(f"/dev-tasks/{task_id}/approve", json={"actor": "op"})

            approving = threading.Thread(target=approve, daemon=True)
            approving.start()
            deadline = time.monotonic() + 30
            while not any(e["event_type"] == "TaskApproved" for e in events(http, task_id)):
                assert time.monotonic() < deadline, "TaskApproved never committed"
                time.sleep(0.05)
    finally:
        first.kill()
    approving.join(10)
    return task_id


def event_types(http: httpx.Client, task_id: str) -> list[str]:
    """The stream's event types, in order."""
    return [e["event_type"] for e in events(http, task_id)]


def test_a_worker_finishes_an_apply_whose_replica_died(workrun_db: str, tmp_path: Path) -> None:
    target = git_repo_with(tmp_path / "target", {"a.txt": "a\n"})
    root = tmp_path / "sandbox"
    task_id = approved_then_killed(workrun_db, root, target)
    assert (target / "a.txt").read_text() == "a\n"  # killed before the apply
    second = start_sandbox(workrun_db, root)  # worker on, no pause
    try:
        with second.client() as http:
            st = wait_status(http, task_id, in_state("applied", "apply_failed"), timeout_s=30)
            assert st["state"] == "applied", st
            types = event_types(http, task_id)
    finally:
        second.stop()
    assert (target / "a.txt").read_text() == "changed\n"
    assert types.count("TaskApproved") == 1 and types.count("PatchApplied") == 1
    assert types[-1] == "PatchApplied"


def test_approve_again_finishes_an_apply_that_already_landed(
    workrun_db: str, tmp_path: Path
) -> None:
    target = git_repo_with(tmp_path / "target", {"a.txt": "a\n"})
    root = tmp_path / "sandbox"
    task_id = approved_then_killed(workrun_db, root, target)
    front: SandboxServer = start_sandbox(workrun_db, root, HIVE_SANDBOX_WORKER="false")
    try:
        with front.client() as http:
            assert http.get(f"/dev-tasks/{task_id}").json()["state"] == "approved"
            # The crash struck after git apply wrote the files: the patch is already there.
            diff = http.get(f"/dev-tasks/{task_id}/patch").content
            subprocess.run(
                ["git", "apply", "-"],
                input=diff,
                cwd=target,
                check=True,
                env={"PATH": "/usr/bin:/bin"},
            )
            r = http.post(f"/dev-tasks/{task_id}/approve", json={"actor": "op"})
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "applied", r.json()
            types = event_types(http, task_id)
            # And approving an applied task is refused as before.
            again = http.post(f"/dev-tasks/{task_id}/approve")
            assert again.status_code == 409 and again.json()["code"] == "invalid_state_transition"
    finally:
        front.stop()
    assert (target / "a.txt").read_text() == "changed\n"
    assert types.count("TaskApproved") == 1 and types.count("PatchApplied") == 1


@pytest.fixture
async def private_pool(server_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of this test's own (no other worker may claim its attempt)."""
    url = await create_migrated_database(server_url)
    pool = await create_pool(url, max_size=8)
    yield pool
    await pool.close()
    await drop_database(server_url, url)


async def test_concurrent_approves_apply_once(private_pool: asyncpg.Pool, tmp_path: Path) -> None:
    service = build_service(private_pool, tmp_path / "sandbox", lease_ttl_s=30)
    target = git_repo_with(tmp_path / "target", {"a.txt": "a\n"})
    created = await service.create(
        CreateDevTask(
            project_id="approve-race",
            instructions=PLAN,
            workspace=WorkspaceSpec(requested_path=str(target)),
        )
    )
    worker = Worker(service, owner="approve-race")
    lease = await service.leases.claim(worker.owner, 30)
    assert lease is not None
    await worker.run_claimed(lease)
    results: list[Any] = await asyncio.gather(
        *(service.approve(created.task_id, actor=f"op{i}") for i in range(4)),
        return_exceptions=True,
    )
    assert [getattr(r, "state", r) for r in results] == ["applied"] * 4
    types = [e.event_type for e in await service.events(created.task_id)]
    assert types.count("TaskApproved") == 1 and types.count("PatchApplied") == 1
    assert (target / "a.txt").read_text() == "changed\n"


async def test_the_apply_lease_is_exclusive_and_always_released(
    private_pool: asyncpg.Pool,
) -> None:
    async with apply_lease(private_pool, "wr-lease") as first:
        assert first
        async with apply_lease(private_pool, "wr-lease") as second:
            assert not second  # another session holds it
        async with apply_lease(private_pool, "wr-other") as other:
            assert other
    with pytest.raises(RuntimeError):
        async with apply_lease(private_pool, "wr-lease") as held:
            assert held
            raise RuntimeError("the apply blew up")
    # The store's pool keeps sessions across releases: the lock must not stay with one.
    for _ in range(private_pool.get_max_size() + 1):
        async with apply_lease(private_pool, "wr-lease") as again:
            assert again
