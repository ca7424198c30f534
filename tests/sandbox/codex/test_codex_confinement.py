"""The trust boundary under Codex: a command Codex runs for the model (scripted here, the one
allowed double) is as confined as any governed command. The real Codex CLI runs in relay mode
through a real gateway; the model asks it to run the escape probe, which must find nothing of
OpenHive reachable and still do its own work in the repo."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from tests.sandbox.workruns.runs import in_state, wait_status
from tests.support.escape_probe import probe_source
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer
from tests.support.scripted_model import FunctionCall, Message, ScriptedModelServer

REPO = Path(__file__).resolve().parents[3]


def test_a_command_codex_runs_cannot_reach_anything_of_openhive(
    relay_sandbox: SandboxServer,
    gateway: GatewayServer,
    model: ScriptedModelServer,
    target_repo: Path,
    server_url: str,
) -> None:
    pg = urlsplit(server_url)
    targets = {
        "files": [
            str(REPO / ".hive" / "secrets.json"),
            str(REPO / ".hive" / "test-pgdata" / "PG_VERSION"),
            str(relay_sandbox.log_path),
        ],
        "dirs": [str(REPO / ".hive"), str(relay_sandbox.root / "tasks"), str(REPO)],
        "tcp": [
            [pg.hostname, pg.port, "postgres without password"],
            [pg.hostname, pg.port, f"postgres with password {pg.password}"],
            ["127.0.0.1", relay_sandbox.port, "the sandbox"],
        ],
        "bind": [relay_sandbox.port, gateway.port],
        # The relay's port is open to Codex by design; its internal routes want the secret.
        "gateway_url": gateway.url,
        "signal": [relay_sandbox.proc.pid, relay_sandbox.worker_pid(), gateway.proc.pid],
    }
    (target_repo / "probe.py").write_text(probe_source(targets))
    model.script(
        FunctionCall("exec_command", {"cmd": "python3 probe.py"}),
        Message("Ran the probe."),
    )
    with relay_sandbox.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "codex-confined",
                "instructions": "Run the probe.",
                "workspace": {"requested_path": str(target_repo)},
            },
        )
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]
        done = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=120)
        assert done["state"] == "awaiting_review", done
    report = json.loads(
        (relay_sandbox.root / "tasks" / task_id / "repo" / "probe-report.json").read_text()
    )
    assert report["own_work"] is True
    assert report["leaks"] == [], report["leaks"]
    assert len(report["blocked"]) >= 12, report["blocked"]
    assert report["launcher"] is True, "Codex ran outside hive-confine"
