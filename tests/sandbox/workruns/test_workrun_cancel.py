"""Cancel is prompt: a running attempt stops well before its next heartbeat.

The lease TTL here is 120 s, so the worker renews (and used to notice a cancel)
only every 40 s; every deadline below is a fraction of that, so only the prompt
paths can pass: in-process when the cancel lands on the replica running the
attempt, the NOTIFY when it lands on another replica, and the one-second poll
of `cancel_requested` when no NOTIFY arrives at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hive.contracts.api import CreateDevTask
from hive.events import create_pool
from hive.sandbox.workruns.worker import Worker
from tests.sandbox.workruns.conftest import create_migrated_database, drop_database
from tests.sandbox.workruns.domain import build_service, plan
from tests.sandbox.workruns.runs import events, start_sandbox, status, wait_status
from tests.support.sandbox_server import SandboxServer

TTL = "120"  # heartbeat every 40 s: the old, heartbeat-borne cancel could not pass
DEADLINE_S = 15.0  # cancel notice (about a second) + kill grace (2 s) + slack for a busy box
SLEEP_PLAN = plan(
    {"write": {"path": "a.txt", "content": "a\n"}},
    {"sleep": {"seconds": 300}},
)
COMMAND_PLAN = plan(
    {"write": {"path": "a.txt", "content": "a\n"}},
    {"run": {"argv": ["sleep", "300"]}},
)


@pytest.fixture(scope="module")
def runner(workrun_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """The replica that runs attempts."""
    root = tmp_path_factory.mktemp("cancel") / "sandbox"
    srv = start_sandbox(workrun_db, root, HIVE_SANDBOX_LEASE_TTL_S=TTL)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def front(workrun_db: str, runner: SandboxServer) -> Iterator[SandboxServer]:
    """Another replica on the same database and task volume that runs no attempts."""
    srv = start_sandbox(
        workrun_db, runner.root, HIVE_SANDBOX_LEASE_TTL_S=TTL, HIVE_SANDBOX_WORKER="false"
    )
    yield srv
    srv.stop()


def start_task(http: httpx.Client, instructions: str) -> str:
    """Create a task and wait until its attempt is past step 0 (inside the long step)."""
    r = http.post("/dev-tasks", json={"project_id": "cancel", "instructions": instructions})
    assert r.status_code == 201, r.text
    task_id = str(r.json()["task_id"])
    wait_status(
        http,
        task_id,
        lambda st: (st["latest_checkpoint"] or {}).get("checkpoint_payload", {}).get("step") == 0,
        timeout_s=30,
    )
    return task_id


def attempt_cancelled(st: dict[str, Any]) -> bool:
    """The current attempt ended, cancelled."""
    last = st["attempts"][-1]
    return bool(last["state"] == "finished" and last["outcome"] == "cancelled")


def assert_cancelled_promptly(http: httpx.Client, task_id: str) -> dict[str, Any]:
    """Poll until the attempt has finished `cancelled`; fail after DEADLINE_S."""
    st = wait_status(http, task_id, attempt_cancelled, timeout_s=DEADLINE_S)
    assert st["state"] == "cancelled"
    return st


def test_a_cancel_on_the_running_replica_stops_the_attempt_at_once(
    runner: SandboxServer,
) -> None:
    with runner.client() as http:
        task_id = start_task(http, SLEEP_PLAN)
        assert http.post(f"/dev-tasks/{task_id}/cancel", json={"reason": "r"}).status_code == 200
        assert_cancelled_promptly(http, task_id)


def test_a_cancel_on_another_replica_reaches_the_runner(
    runner: SandboxServer, front: SandboxServer
) -> None:
    with runner.client() as http:
        task_id = start_task(http, SLEEP_PLAN)
    with front.client() as http:
        assert http.post(f"/dev-tasks/{task_id}/cancel").status_code == 200
        assert_cancelled_promptly(http, task_id)


def test_a_cancel_stops_a_running_command(runner: SandboxServer, front: SandboxServer) -> None:
    with runner.client() as http:
        task_id = start_task(http, COMMAND_PLAN)
        # Wait until the governed `sleep 300` is recorded as started.
        deadline = time.monotonic() + 30
        while not any(e["event_type"] == "CommandStarted" for e in events(http, task_id)):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
    with front.client() as http:
        assert http.post(f"/dev-tasks/{task_id}/cancel").status_code == 200
        assert_cancelled_promptly(http, task_id)
        finished = [e for e in events(http, task_id) if e["event_type"] == "CommandFinished"]
        assert [e["payload"]["state"] for e in finished] == ["cancelled"]
        assert status(http, task_id)["state"] == "cancelled"


@pytest.fixture
async def private_pool(server_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of this test's own: the module's runner must not claim its attempt."""
    url = await create_migrated_database(server_url)
    pool = await create_pool(url, max_size=4)
    yield pool
    await pool.close()
    await drop_database(server_url, url)


async def test_without_a_notify_the_cancel_poll_still_stops_the_attempt(
    private_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # An in-process worker that never LISTENs: the request is only the lease row's
    # flag, as for a replica whose listener connection dropped when the NOTIFY went out.
    service = build_service(private_pool, tmp_path / "sandbox", lease_ttl_s=120)
    created = await service.create(CreateDevTask(project_id="cancel-poll", instructions=SLEEP_PLAN))
    worker = Worker(service, owner="cancel-poll")
    lease = await service.leases.claim(worker.owner, 120)
    assert lease is not None and lease.task_id == created.task_id
    deadline = time.monotonic() + 30
    run = asyncio.create_task(worker.run_claimed(lease))
    watch = asyncio.create_task(worker._cancel_watch())
    try:
        while (await service.status(created.task_id)).latest_checkpoint is None:
            assert time.monotonic() < deadline, "step 0 never finished"
            await asyncio.sleep(0.05)
        await private_pool.execute(
            "UPDATE work_run_leases SET cancel_requested = true WHERE task_id = $1",
            created.task_id,
        )
        await asyncio.wait_for(run, DEADLINE_S)
    finally:
        watch.cancel()
        run.cancel()
    st = await service.status(created.task_id)
    assert st.attempts[-1].outcome == "cancelled"
