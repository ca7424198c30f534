"""Driving Work Runs over HTTP against real sandbox processes (helpers for e2e tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.support.sandbox_server import DETERMINISTIC_WORKER, SandboxServer

# Short leases so a killed replica's attempts turn stale within seconds.
WORKER_ENV: Mapping[str, str] = {
    **DETERMINISTIC_WORKER,
    "HIVE_SANDBOX_LEASE_TTL_S": "2",
    "HIVE_SANDBOX_WORKER_POLL_S": "0.2",
}


def start_sandbox(
    database_url: str, root: Path, *, app: str | None = None, **env: str
) -> SandboxServer:
    """A sandbox process with the Work Run worker on, sharing `root` with its peers."""
    return SandboxServer.start(database_url, root=root, env={**WORKER_ENV, **env}, app=app)


def status(http: httpx.Client, task_id: str) -> dict[str, Any]:
    """GET /dev-tasks/{id}, asserting 200."""
    r = http.get(f"/dev-tasks/{task_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def wait_status(
    http: httpx.Client,
    task_id: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Poll the task until `until(status)` holds; fail with the last status on the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = status(http, task_id)
        if until(st):
            return st
        assert time.monotonic() < deadline, f"gave up waiting; last status: {st}"
        time.sleep(0.05)


def in_state(*states: str) -> Callable[[dict[str, Any]], bool]:
    """Predicate: the task is in one of `states`."""
    return lambda st: st["state"] in states


def events(http: httpx.Client, task_id: str, after: int = 0) -> list[dict[str, Any]]:
    """The typed stream after version `after`."""
    r = http.get(f"/dev-tasks/{task_id}/events", params={"after": after})
    assert r.status_code == 200, r.text
    return list(r.json())


def checkpoints(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CheckpointRecorded payloads, in stream order."""
    return [e["payload"] for e in evs if e["event_type"] == "CheckpointRecorded"]


def assert_stream_sound(evs: list[dict[str, Any]]) -> None:
    """Contiguous versions from 1; checkpoint numbers unique and increasing by one."""
    assert [e["stream_version"] for e in evs] == list(range(1, len(evs) + 1))
    seqs = [c["checkpoint_sequence_no"] for c in checkpoints(evs)]
    assert seqs == list(range(1, len(seqs) + 1))


def step_of(checkpoint: dict[str, Any]) -> int:
    """The plan step a deterministic_proof checkpoint names."""
    return int(checkpoint["checkpoint_payload"]["step"])
