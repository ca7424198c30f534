"""Codex settings on a real sandbox: auth modes, a missing binary, the attempt timeout.

HIVE_SANDBOX_CODEX_AUTH_MODE=env forwards exactly the allowlisted variables; scrubbed forwards none.

Each test starts its own sandbox process (the auth mode is a process setting)
on this module's database, runs one real Codex attempt against the scripted
model server (test double) configured as a direct provider, and reads the
running Codex's environment from /proc while the model holds its answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.codex.codex_runs import (
    apply_patch,
    codex_pid,
    proc_cmdline,
    proc_environ,
    tree,
    wait_for,
)
from tests.sandbox.codex.conftest import codex_sandbox_env
from tests.sandbox.workruns.runs import in_state, wait_status
from tests.support.sandbox_server import CANARY_ENV, SECRET, SandboxServer
from tests.support.scripted_model import (
    CustomToolCall,
    FunctionCall,
    Hold,
    Message,
    ScriptedModelServer,
)

PATCH = apply_patch("*** Add File: added.txt\n+added\n")
# What the sandbox's own environment may share with Codex's: machine basics only.
SHARED_OK = {"PATH", "LANG"}


@pytest.fixture
def own_sandbox(codex_db: str, tmp_path: Path) -> Iterator[list[SandboxServer]]:
    """Sandboxes a test starts; all stopped at its end."""
    started: list[SandboxServer] = []
    yield started
    for server in started:
        server.stop()


def forwarded(env: dict[str, str], server: SandboxServer) -> set[str]:
    """Names whose value Codex got from the sandbox's own environment."""
    return {k for k, v in env.items() if server.env.get(k) == v}


def _run_held(
    server: SandboxServer, model: ScriptedModelServer, repo: Path
) -> tuple[dict[str, str], dict[str, str]]:
    """Run one task; return Codex's environment (read mid-turn) and the model's request headers."""
    release = threading.Event()
    model.script(Hold(release, CustomToolCall("apply_patch", PATCH)), Message("Added."))
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "auth-modes",
                "instructions": "Add added.txt.",
                "workspace": {"requested_path": str(repo)},
            },
        )
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]
        try:
            env = proc_environ(codex_pid(http, task_id))
        finally:
            release.set()
        st = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=60)
        assert st["state"] == "awaiting_review", (st["reason"], st["attempts"])
    return env, model.model_requests()[0].headers


def test_env_mode_forwards_exactly_the_allowlist(
    codex_db: str,
    model: ScriptedModelServer,
    target_repo: Path,
    tmp_path: Path,
    own_sandbox: list[SandboxServer],
) -> None:
    server = SandboxServer.start(
        codex_db,
        root=tmp_path / "root",
        env=codex_sandbox_env(
            HIVE_SANDBOX_CODEX_AUTH_MODE="env",
            HIVE_SANDBOX_CODEX_ENV_ALLOWLIST="OPENAI_API_KEY,CODEX_TEST_FLAG,UNSET_NAME",
            HIVE_SANDBOX_CODEX_PROVIDER_ID="scripted",
            HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL=model.base_url,
            HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY="OPENAI_API_KEY",
            CODEX_TEST_FLAG="on",
            NOT_LISTED_FLAG="off",
        ),
    )
    own_sandbox.append(server)
    env, headers = _run_held(server, model, target_repo)

    assert forwarded(env, server) - SHARED_OK == {"OPENAI_API_KEY", "CODEX_TEST_FLAG"}
    assert env["OPENAI_API_KEY"] == CANARY_ENV["OPENAI_API_KEY"]
    assert "UNSET_NAME" not in env and "NOT_LISTED_FLAG" not in env
    others = {v for k, v in CANARY_ENV.items() if k != "OPENAI_API_KEY"}
    assert not others & set(env.values())
    assert SECRET not in env.values() and codex_db not in env.values()
    # Codex sent the allowlisted key as its provider key.
    assert headers["authorization"] == f"Bearer {CANARY_ENV['OPENAI_API_KEY']}"


def test_scrubbed_mode_forwards_none(
    codex_db: str,
    model: ScriptedModelServer,
    target_repo: Path,
    tmp_path: Path,
    own_sandbox: list[SandboxServer],
) -> None:
    server = SandboxServer.start(
        codex_db,
        root=tmp_path / "root",
        env=codex_sandbox_env(
            HIVE_SANDBOX_CODEX_AUTH_MODE="scrubbed",
            # Listed, but scrubbed mode ignores the allowlist.
            HIVE_SANDBOX_CODEX_ENV_ALLOWLIST="OPENAI_API_KEY",
            HIVE_SANDBOX_CODEX_PROVIDER_ID="scripted",
            HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL=model.base_url,
        ),
    )
    own_sandbox.append(server)
    env, headers = _run_held(server, model, target_repo)

    assert forwarded(env, server) <= SHARED_OK
    assert not set(CANARY_ENV.values()) & set(env.values())
    assert SECRET not in env.values() and codex_db not in env.values()
    assert "authorization" not in headers


def test_missing_binary_refuses_the_create_with_the_fix(
    codex_db: str, target_repo: Path, tmp_path: Path, own_sandbox: list[SandboxServer]
) -> None:
    missing = tmp_path / "no-codex-here"
    server = SandboxServer.start(
        codex_db, root=tmp_path / "root", env=codex_sandbox_env(HIVE_SANDBOX_CODEX_BIN=str(missing))
    )
    own_sandbox.append(server)
    with server.client() as http:
        health = http.get("/healthz").json()
        assert health["codex"]["present"] is False
        assert str(missing) in health["codex"]["reason"]
        verdict = health["backends"]["codex_cli"]
        assert verdict["usable"] is False and "HIVE_SANDBOX_CODEX_BIN" in verdict["enable"]
        assert health["backends"]["deterministic_proof"]["usable"] is True
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "missing",
                "instructions": "anything",
                "workspace": {"requested_path": str(target_repo)},
            },
        )
        assert r.status_code == 422, r.text
        problem = r.json()
    assert problem["code"] == "validation_failed"
    assert "codex CLI missing" in problem["detail"] and str(missing) in problem["detail"]
    assert "HIVE_SANDBOX_CODEX_BIN" in problem["detail"]


def test_no_model_provider_refuses_the_create_with_the_fix(
    codex_db: str, target_repo: Path, tmp_path: Path, own_sandbox: list[SandboxServer]
) -> None:
    """The default backend with nothing to call: 422 at once, not a failed attempt 30 s later."""
    server = SandboxServer.start(codex_db, root=tmp_path / "root", env=codex_sandbox_env())
    own_sandbox.append(server)
    with server.client() as http:
        verdict = http.get("/healthz").json()["backends"]["codex_cli"]
        assert verdict["usable"] is False and "no model provider" in verdict["reason"]
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "no-provider",
                "instructions": "Update the greeting.",
                "workspace": {"requested_path": str(target_repo)},
            },
        )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "no model provider" in detail
    assert "HIVE_SANDBOX_CODEX_AUTH_MODE=relay" in detail
    assert "HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL" in detail


def test_attempt_timeout_stops_codex_and_its_children(
    codex_db: str,
    model: ScriptedModelServer,
    target_repo: Path,
    tmp_path: Path,
    own_sandbox: list[SandboxServer],
) -> None:
    server = SandboxServer.start(
        codex_db,
        root=tmp_path / "root",
        env=codex_sandbox_env(
            HIVE_SANDBOX_CODEX_PROVIDER_ID="scripted",
            HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL=model.base_url,
            HIVE_SANDBOX_CODEX_TIMEOUT_S="3",
        ),
    )
    own_sandbox.append(server)
    with server.client() as http:
        health = http.get("/healthz").json()["codex"]
        assert health["present"] is True and health["version"] == health["pinned_version"]
    model.script(FunctionCall("exec_command", {"cmd": "sleep 300"}), Message("never"))
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "timeout",
                "instructions": "Sleep.",
                "workspace": {"requested_path": str(target_repo)},
            },
        )
        task_id = r.json()["task_id"]
        pid = codex_pid(http, task_id)
        sleeper = wait_for("the sleep under Codex", lambda: [p for p in tree(pid) if _is_sleep(p)])
        st = wait_status(http, task_id, in_state("failed", "awaiting_review"), timeout_s=30)
    assert st["attempts"][0]["outcome"] == "timed_out", st["attempts"]
    assert "timeout" in st["reason"]
    assert not [p for p in (pid, *sleeper) if _running(p)]


def _is_sleep(pid: int) -> bool:
    try:
        return proc_cmdline(pid) == ["sleep", "300"]
    except OSError:
        return False


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_cancel_the_heartbeat_has_not_relayed_yet_still_ends_the_attempt(
    codex_db: str,
    model: ScriptedModelServer,
    target_repo: Path,
    tmp_path: Path,
    own_sandbox: list[SandboxServer],
) -> None:
    """With a 30 s lease the worker hears of a cancel only at its next heartbeat; the first
    checkpoint Codex reports meanwhile is refused, and the attempt must still end cancelled."""
    server = SandboxServer.start(
        codex_db,
        root=tmp_path / "root",
        env=codex_sandbox_env(
            HIVE_SANDBOX_LEASE_TTL_S="30",
            HIVE_SANDBOX_CODEX_PROVIDER_ID="scripted",
            HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL=model.base_url,
        ),
    )
    own_sandbox.append(server)
    release = threading.Event()
    model.script(
        Hold(release, FunctionCall("exec_command", {"cmd": "printf x > x.txt"})),
        Message("never reached"),
    )
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "cancel-race",
                "instructions": "Write x.txt.",
                "workspace": {"requested_path": str(target_repo)},
            },
        )
        task_id = r.json()["task_id"]
        pid = codex_pid(http, task_id)
        try:
            assert http.post(f"/dev-tasks/{task_id}/cancel", json={}).json()["state"] == "cancelled"
        finally:
            release.set()  # Codex runs the command and reports it: refused, the task is cancelled
        st = wait_status(
            http, task_id, lambda s: s["attempts"][0]["state"] == "finished", timeout_s=8
        )
        assert st["state"] == "cancelled" and st["attempts"][0]["outcome"] == "cancelled"
        finished = {
            e["payload"]["command_id"]: e["payload"]["state"]
            for e in http.get(f"/dev-tasks/{task_id}/events").json()
            if e["event_type"] == "CommandFinished"
        }
        started = [
            e["payload"]["command_id"]
            for e in http.get(f"/dev-tasks/{task_id}/events").json()
            if e["event_type"] == "CommandStarted"
        ]
        assert set(started) <= set(finished)  # Codex's own record is closed too
    assert not _running(pid)
