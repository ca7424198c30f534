"""Status survives the sandbox: running commands of a dead sandbox become `lost`, never `running`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.sandbox.test_commands_execution import run, wait_gone
from tests.support.databases import migrated_database
from tests.support.sandbox_server import SandboxServer

PY = "python3"
SLEEPER = "import os, time; print(os.getpid(), flush=True); time.sleep(300)"


@pytest.fixture(scope="module")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """This module's own database: a sandbox of another test on the session database
    would reap these crashed commands first, measuring their logs under its own root."""
    async with migrated_database(server_url, "hive_restart") as url:
        yield url


def _start_sleeper(server: SandboxServer) -> tuple[str, int]:
    with server.client() as client:
        command_id = client.post("/commands", json={"argv": [PY, "-c", SLEEPER]}).json()[
            "command_id"
        ]
        deadline = time.monotonic() + 20
        while not (preview := client.get(f"/commands/{command_id}").json()["stdout"]["preview"]):
            assert time.monotonic() < deadline, "the sleeper never printed its pid"
            time.sleep(0.05)
    return command_id, int(preview)


def test_a_crash_then_restart_turns_running_commands_lost(
    start_sandbox: Any,
) -> None:
    server: SandboxServer = start_sandbox()
    with server.client() as client:
        finished = run(client, ["echo", "kept"])
    command_id, pid = _start_sleeper(server)

    server.kill()  # SIGKILL: no shutdown hook records anything
    # Confined commands die with their supervisor (hive-confine's death signal).
    assert wait_gone(pid), "a governed command outlived the crashed sandbox"

    restarted = server.restart()
    with restarted.client() as client:
        status = client.get(f"/commands/{command_id}").json()
        assert status["state"] == "lost"
        assert "died" in status["reason"]
        assert status["finished_at"] is not None
        assert status["stdout"]["preview"].strip() == str(pid)  # logs survive the restart
        assert client.get(f"/commands/{command_id}/log").content == f"{pid}\n".encode()
        # Finished commands keep their outcome.
        before = client.get(f"/commands/{finished['command_id']}").json()
        assert before["state"] == "exited" and before["stdout"]["preview"] == "kept\n"
        # Its own command is no longer listed as running. Only its own: the session
        # database is shared, and other tests' commands may well be running right now.
        running = client.get("/commands", params={"state": "running", "limit": 1000}).json()
        assert command_id not in [c["command_id"] for c in running]
        lost = client.get("/commands", params={"state": "lost", "limit": 1000}).json()
        assert command_id in [c["command_id"] for c in lost]
    restarted.stop()


def test_a_graceful_stop_ends_running_commands_as_lost(start_sandbox: Any) -> None:
    server: SandboxServer = start_sandbox()
    command_id, pid = _start_sleeper(server)
    server.stop()
    assert server.proc.returncode is not None
    assert wait_gone(pid)
    restarted = server.restart()
    with restarted.client() as client:
        status = client.get(f"/commands/{command_id}").json()
    assert status["state"] == "lost"
    assert "shut down" in status["reason"]
    restarted.stop()


def test_another_live_sandbox_does_not_steal_running_commands(
    start_sandbox: Any, tmp_path: Any
) -> None:
    first: SandboxServer = start_sandbox(root=tmp_path / "a")
    command_id, pid = _start_sleeper(first)
    second: SandboxServer = start_sandbox(root=tmp_path / "b")  # same database, alive side by side
    with second.client() as client:
        assert client.get(f"/commands/{command_id}").json()["state"] == "running"
        conflict = client.post(f"/commands/{command_id}/cancel")
        assert conflict.status_code == 409
    with first.client() as client:
        assert client.post(f"/commands/{command_id}/cancel").json()["state"] == "cancelled"
    assert wait_gone(pid)
