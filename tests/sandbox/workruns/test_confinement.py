"""The trust boundary, attacked from the inside: a governed process cannot reach OpenHive's
secrets, database, other tasks, the services' processes or its own approval.

Every attempt is made by `tests/support/escape_probe.py`, run as a real governed process
of a real sandbox: as a `deterministic_proof` step and as a command posted with the task's
own token. The probe also does its own work in its repo, which must still succeed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from hive.contracts.tokens import issue, sandbox_task_scope
from tests.sandbox.test_commands_execution import wait_gone
from tests.sandbox.workruns.domain import plan
from tests.sandbox.workruns.runs import in_state, start_sandbox, wait_status
from tests.support.escape_probe import probe_source
from tests.support.sandbox_server import SandboxServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(workrun_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A sandbox with the worker on, confinement required (it refuses to start without)."""
    srv = start_sandbox(
        workrun_db,
        tmp_path_factory.mktemp("confined") / "sandbox",
        HIVE_SANDBOX_REQUIRE_CONFINEMENT="true",
    )
    yield srv
    srv.stop()


def _create(http: httpx.Client, instructions: str) -> str:
    r = http.post("/dev-tasks", json={"project_id": "confined", "instructions": instructions})
    assert r.status_code == 201, r.text
    return str(r.json()["task_id"])


def _targets(server: SandboxServer, server_url: str, other_task: str) -> dict[str, Any]:
    """What the probe attacks: everything of OpenHive's outside its own task."""
    pg = urlsplit(server_url)
    other = server.root / "tasks" / other_task
    data_dir = REPO / ".hive"  # the test database's data dir: secrets.json, test-pgdata
    return {
        "files": [
            str(data_dir / "secrets.json"),
            str(data_dir / "test-pgdata" / "PG_VERSION"),
            str(data_dir / "test-pgdata" / "pg_hba.conf"),
            str(other / "repo" / "secret-of-b.txt"),
            str(server.log_path),
        ],
        "dirs": [str(data_dir), str(other / "repo"), str(server.root / "tasks"), str(REPO)],
        "tcp": [
            [pg.hostname, pg.port, "postgres without password"],
            [pg.hostname, pg.port, f"postgres with password {pg.password}"],
            ["127.0.0.1", server.port, "the sandbox"],
        ],
        "bind": [server.port],
        "gateway_url": f"http://127.0.0.1:{server.port}",
        "signal": [server.proc.pid, server.worker_pid()],
    }


def _report(server: SandboxServer, task_id: str) -> dict[str, Any]:
    path = server.root / "tasks" / task_id / "repo" / "probe-report.json"
    return dict(json.loads(path.read_text()))


def test_confinement_is_in_force_and_reported(server: SandboxServer) -> None:
    with server.client() as http:
        health = http.get("/healthz").json()
    c = health["confinement"]
    assert c["in_force"] is True, c["missing"]
    assert c["landlock_abi"] >= 6
    for mechanism in ("filesystem", "network", "scoped_signals", "scoped_abstract_unix_sockets"):
        assert c[mechanism] is True, mechanism
    assert c["dies_with_supervisor"] and c["services_non_dumpable"]
    assert c["missing"] == []


def test_a_governed_process_cannot_reach_anything_of_openhive(
    server: SandboxServer, server_url: str
) -> None:
    with server.client() as http:
        other = _create(http, plan({"write": {"path": "secret-of-b.txt", "content": "b\n"}}))
        wait_status(http, other, in_state("awaiting_review"))
        probe = probe_source(_targets(server, server_url, other))
        task = _create(
            http,
            plan(
                {"write": {"path": "probe.py", "content": probe}},
                {"run": {"argv": ["python3", "probe.py"]}},
            ),
        )
        done = wait_status(http, task, in_state("awaiting_review", "failed"), timeout_s=90)
        assert done["state"] == "awaiting_review", done
    report = _report(server, task)
    assert report["own_work"] is True and report["launcher"] is True
    assert report["leaks"] == [], report["leaks"]
    # The probe really tried: every target was refused, not skipped.
    assert len(report["blocked"]) >= 14, report["blocked"]

    # The same probe, posted as a command with the task's own token.
    token, _ = issue(server.secret, scopes=[sandbox_task_scope(task)], ttl_s=600, task_id=task)
    (server.root / "tasks" / task / "repo" / "probe-report.json").unlink()
    with server.client(auth=False) as http:
        r = http.post(
            "/commands",
            json={"argv": ["python3", "probe.py"], "task_id": task, "timeout_s": 60},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        command_id = r.json()["command_id"]
        deadline = time.monotonic() + 60
        while (st := http.get(f"/commands/{command_id}", headers=_bearer(token)).json())[
            "state"
        ] == "running":
            assert time.monotonic() < deadline, "the probe command never finished"
            time.sleep(0.1)
    assert st["exit_code"] == 0, st
    report = _report(server, task)
    assert report["own_work"] is True and report["leaks"] == [], report


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_task_token_cannot_review_or_recover_its_own_task(server: SandboxServer) -> None:
    with server.client() as http:
        task = _create(http, plan({"write": {"path": "x.txt", "content": "x\n"}}))
        wait_status(http, task, in_state("awaiting_review"))
    token, _ = issue(server.secret, scopes=[sandbox_task_scope(task)], ttl_s=600, task_id=task)
    with server.client(auth=False) as http:
        for action in ("approve", "reject", "resume", "requeue", "cancel"):
            r = http.post(
                f"/dev-tasks/{task}/{action}", json={"actor": "the-model"}, headers=_bearer(token)
            )
            assert r.status_code == 403, (action, r.text)
            assert r.json()["code"] == "forbidden"
        # The token still reads its own task: only review and recovery are refused.
        assert http.get(f"/dev-tasks/{task}", headers=_bearer(token)).status_code == 200
    with server.client() as http:
        assert http.get(f"/dev-tasks/{task}").json()["state"] == "awaiting_review"


# The command keeps running (its leader's exit would end the whole tree at once) after
# starting a daemon: double fork, own session, no pipe to the sandbox.
DAEMON = (
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork():\n"
    "        os._exit(0)\n"
    "    os.close(1); os.close(2)\n"
    "    open('daemon.pid', 'w').write(str(os.getpid()))\n"
    "    time.sleep(300)\n"
    "    os._exit(0)\n"
    "time.sleep(300)\n"
)


def test_nothing_governed_survives_a_kill_9_of_the_sandbox(workrun_db: str, tmp_path: Path) -> None:
    """A daemon a command started (double fork, own session, no pipe) dies with the rest."""
    srv = start_sandbox(
        workrun_db,
        tmp_path / "sandbox",
        HIVE_SANDBOX_REQUIRE_CONFINEMENT="true",
        HIVE_SANDBOX_WORKER="false",  # the module's sandbox runs the Work Runs of this database
    )
    task = "kill-nine"
    try:
        with srv.client() as http:
            sleeper = http.post(
                "/commands",
                json={"argv": ["python3", "-c", "import time; time.sleep(300)"], "task_id": task},
            ).json()
            daemon = http.post(
                "/commands", json={"argv": ["python3", "-c", DAEMON], "task_id": task}
            )
            assert daemon.status_code == 201, daemon.text
        pidfile = srv.root / "tasks" / task / "repo" / "daemon.pid"
        deadline = time.monotonic() + 20
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline, "the daemon never started"
            time.sleep(0.05)
        daemon_pid = int(pidfile.read_text())
        assert not wait_gone(daemon_pid, timeout_s=0.2), "the daemon should be running"
        srv.kill()
        assert wait_gone(daemon_pid), "a double-forked governed process survived kill -9"
        restarted = srv.restart()
        with restarted.client() as http:
            assert http.get(f"/commands/{sleeper['command_id']}").json()["state"] == "lost"
        restarted.stop()
    finally:
        srv.kill()  # the whole process group: granian's worker too
