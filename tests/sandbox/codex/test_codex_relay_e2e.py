"""The default coding path end to end: the real Codex CLI in the sandbox, through the gateway relay.

Real Codex CLI (the pinned install), real gateway and sandbox processes, real
PostgreSQL and real git repos; only the model is scripted (a Responses-API
test double on 127.0.0.1 that the gateway relay treats as its vendor). The
sandbox runs Codex with HIVE_SANDBOX_CODEX_AUTH_MODE=relay.
"""

from __future__ import annotations

import json
import threading
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from hive.contracts.tokens import verify
from tests.sandbox.codex.codex_runs import (
    apply_patch,
    codex_pid,
    event_types,
    proc_cmdline,
    proc_environ,
    tree,
    wait_for,
)
from tests.sandbox.codex.conftest import VENDOR_KEY
from tests.sandbox.workruns.runs import checkpoints, events, in_state, wait_status
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import CANARY_ENV, SECRET, SandboxServer
from tests.support.scripted_model import (
    CustomToolCall,
    FunctionCall,
    Hold,
    HttpError,
    Message,
    ScriptedModelServer,
)

RELAY_TOKEN_ENV = "HIVE_RELAY_TASK_TOKEN"
GREETING_PATCH = apply_patch(
    "*** Update File: greeting.txt\n@@\n-hello\n+hello, relay\n",
)


def _create(http: httpx.Client, repo: Path, instructions: str, **extra: Any) -> str:
    r = http.post(
        "/dev-tasks",
        json={
            "project_id": "codex-e2e",
            "instructions": instructions,
            "workspace": {"requested_path": str(repo)},
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["task_id"])


def _attempt(st: dict[str, Any], n: int) -> dict[str, Any]:
    return next(a for a in st["attempts"] if a["attempt_no"] == n)


def test_exec_then_apply_patch_reaches_review_and_approve_applies(
    relay_sandbox: SandboxServer,
    gateway: GatewayServer,
    model: ScriptedModelServer,
    target_repo: Path,
    codex_db: str,
) -> None:
    """exec_command, then apply_patch, then an answer: review, both edits, approve into git.

    While the model holds its first answer, the running Codex process is
    inspected through /proc: argv, environment and config.toml as specified.
    """
    release = threading.Event()
    model.script(
        Hold(release, FunctionCall("exec_command", {"cmd": "printf 'from exec\\n' > exec.txt"})),
        CustomToolCall("apply_patch", GREETING_PATCH),
        Message("Wrote exec.txt and updated the greeting."),
    )
    with relay_sandbox.client() as http:
        task_id = _create(http, target_repo, "Update the greeting and add exec.txt.")
        pid = codex_pid(http, task_id)
        try:
            env = proc_environ(pid)
            argv = proc_cmdline(pid)
        finally:
            release.set()

        # argv: governed exec, the configured sandbox mode, the task's repo, the prompt last.
        repo_dir = relay_sandbox.root / "tasks" / task_id / "repo"
        assert argv[1:6] == ["exec", "--json", "--skip-git-repo-check", "--ephemeral", "--sandbox"]
        # Inside OpenHive's confinement Codex's bubblewrap cannot mount: ours is the boundary.
        assert argv[6] == "danger-full-access"
        assert argv[argv.index("-C") + 1] == str(repo_dir)
        assert argv[argv.index("-c") + 1] == "allow_login_shell=false"
        assert argv[-2:] == ["--", "Update the greeting and add exec.txt."]

        # env: the scrubber's minimal env plus CODEX_HOME and the one task token.
        scratch = relay_sandbox.root / "tasks" / task_id / "scratch" / "codex" / "attempt-1"
        assert env["HOME"] == str(scratch / "home")
        assert env["CODEX_HOME"] == str(scratch / "home" / ".codex")
        assert env["TMPDIR"] == str(scratch / "tmp")
        values = set(env.values())
        for leaked in (VENDOR_KEY, SECRET, codex_db, *CANARY_ENV.values()):
            assert leaked not in values and not any(leaked in v for v in values)
        assert not {"DATABASE_URL", "HIVE_INTERNAL_SECRET", "OPENAI_API_KEY"} & set(env)
        claims = verify(SECRET, env[RELAY_TOKEN_ENV])
        assert claims.scopes == ["relay:model"] and claims.task_id == task_id
        assert 60 <= claims.exp - claims.iat <= 120 + 60  # expires with the attempt

        # config.toml: the relay as provider, its env_key naming the token variable.
        config = tomllib.loads(Path(env["CODEX_HOME"], "config.toml").read_text())
        provider = config["model_providers"][config["model_provider"]]
        assert provider["base_url"] == gateway.url + "/relay/v1"
        assert provider["env_key"] == RELAY_TOKEN_ENV
        assert provider["wire_api"] == "responses"
        assert provider["request_max_retries"] == 0 and provider["stream_max_retries"] == 0
        assert config["analytics"] == {"enabled": False}
        assert config["features"]["plugins"] is False
        assert config["features"]["unbounded_connection_retries"] is False

        st = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=60)
        assert st["state"] == "awaiting_review", (st["reason"], st["attempts"])
        assert _attempt(st, 1)["outcome"] == "succeeded"
        diff = http.get(f"/dev-tasks/{task_id}/patch").text
        assert "+from exec" in diff and "+hello, relay" in diff
        assert st["patch"]["files_changed"] == 2

        evs = events(http, task_id)
        kinds = [c["checkpoint_payload"]["kind"] for c in checkpoints(evs)]
        assert kinds == ["command", "file_change"]
        assert all(c["durable"] for c in checkpoints(evs))
        bash = [
            e["payload"]
            for e in evs
            if e["event_type"] == "CommandStarted" and e["payload"]["argv"][:1] == ["/bin/bash"]
        ]
        assert len(bash) == 1
        names = {a["name"] for a in st["artifacts"]}
        assert "codex-last-message-attempt-1.md" in names
        last = http.get(f"/dev-tasks/{task_id}/artifacts/codex-last-message-attempt-1.md")
        assert last.text == "Wrote exec.txt and updated the greeting."

        r = http.post(f"/dev-tasks/{task_id}/approve", json={})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "applied", r.json()
    assert (target_repo / "exec.txt").read_text() == "from exec\n"
    assert (target_repo / "greeting.txt").read_text() == "hello, relay\n"

    # The vendor saw the vendor key on every request, never a task token.
    assert len(model.model_requests()) == 3
    for request in model.model_requests():
        assert request.headers["authorization"] == f"Bearer {VENDOR_KEY}"


def test_provider_down_fails_fast_then_resume_finishes(
    relay_sandbox: SandboxServer, model: ScriptedModelServer, target_repo: Path
) -> None:
    """An unreachable provider fails the attempt within 10 s, with the reason; resume finishes."""
    model.stop()
    try:
        with relay_sandbox.client() as http:
            task_id = _create(http, target_repo, "Update the greeting.")
            st = wait_status(http, task_id, in_state("failed", "awaiting_review"), timeout_s=30)
    finally:
        model.start()
    attempt = _attempt(st, 1)
    assert st["state"] == "failed" and attempt["outcome"] == "failed"
    started = datetime.fromisoformat(attempt["started_at"])
    finished = datetime.fromisoformat(attempt["finished_at"])
    assert (finished - started).total_seconds() < 10
    assert st["reason"].startswith("codex turn failed:"), st["reason"]
    assert "502" in st["reason"] or "upstream" in st["reason"].lower(), st["reason"]

    model.script(CustomToolCall("apply_patch", GREETING_PATCH), Message("Done."))
    with relay_sandbox.client() as http:
        r = http.post(f"/dev-tasks/{task_id}/resume", json={})
        assert r.status_code == 200, r.text
        st = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=60)
        assert st["state"] == "awaiting_review", (st["reason"], st["attempts"])
        assert _attempt(st, 2)["outcome"] == "succeeded"
        assert "+hello, relay" in http.get(f"/dev-tasks/{task_id}/patch").text


def test_resume_continues_from_the_latest_checkpoint_in_the_same_workspace(
    relay_sandbox: SandboxServer, model: ScriptedModelServer, target_repo: Path
) -> None:
    """A failed attempt's work stays; the resumed Codex is told what was already done."""
    model.script(
        FunctionCall("exec_command", {"cmd": "printf 'step one\\n' > step1.txt"}),
        HttpError(500, "scripted provider failure"),
    )
    with relay_sandbox.client() as http:
        task_id = _create(http, target_repo, "Write step1.txt, then update the greeting.")
        st = wait_status(http, task_id, in_state("failed", "awaiting_review"), timeout_s=60)
        assert st["state"] == "failed", st
        cp = st["latest_checkpoint"]
        assert cp["durable"] and cp["checkpoint_payload"]["kind"] == "command"

        model.requests.clear()  # keep only what attempt 2 sends
        model.script(CustomToolCall("apply_patch", GREETING_PATCH), Message("Finished."))
        r = http.post(f"/dev-tasks/{task_id}/resume", json={})
        assert r.status_code == 200, r.text
        st = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=60)
        assert st["state"] == "awaiting_review", (st["reason"], st["attempts"])
        assert _attempt(st, 2)["resumed_from_checkpoint"] == cp["checkpoint_sequence_no"]
        diff = http.get(f"/dev-tasks/{task_id}/patch").text
        assert "+step one" in diff and "+hello, relay" in diff  # attempt 1's edit is still there

    first = json.dumps(model.model_requests()[0].body)
    assert "Write step1.txt, then update the greeting." in first
    assert "Progress recorded by the earlier attempt" in first
    assert "step one" in first and "> step1.txt" in first


def test_cancel_mid_turn_stops_codex_and_its_children(
    relay_sandbox: SandboxServer, model: ScriptedModelServer, target_repo: Path
) -> None:
    """Cancel while Codex runs a command: Codex and every child are gone within the grace period."""
    model.script(FunctionCall("exec_command", {"cmd": "sleep 300"}), Message("never reached"))
    with relay_sandbox.client() as http:
        task_id = _create(http, target_repo, "Sleep for a long time.")
        pid = codex_pid(http, task_id)
        sleeper = wait_for(
            "the sleep command under Codex",
            lambda: [p for p in tree(pid) if _cmdline_is(p, ["sleep", "300"])],
        )
        before = tree(pid)
        assert sleeper[0] in before and pid in before
        r = http.post(f"/dev-tasks/{task_id}/cancel", json={"reason": "test"})
        assert r.status_code == 200, r.text
        # Notice within one heartbeat (lease TTL 3 s / 3), then TERM, KILL after the 2 s grace.
        wait_for("Codex and its children to exit", lambda: not _alive(before), timeout_s=1 + 2 + 3)
        st = wait_status(
            http, task_id, lambda s: _attempt(s, 1)["state"] == "finished", timeout_s=15
        )
        assert st["state"] == "cancelled"
        assert _attempt(st, 1)["outcome"] == "cancelled"
        finished = [
            e["payload"] for e in events(http, task_id) if e["event_type"] == "CommandFinished"
        ]
        assert {f["state"] for f in finished} == {"cancelled"}


def _cmdline_is(pid: int, argv: list[str]) -> bool:
    try:
        return proc_cmdline(pid) == argv
    except OSError:
        return False


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.add(pid)
    return alive


def test_relay_helper_backend_keeps_every_credential_out_of_codex(
    relay_sandbox: SandboxServer, model: ScriptedModelServer, target_repo: Path
) -> None:
    """relay_helper: Codex holds nothing; the helper holds only the task token."""
    release = threading.Event()
    model.script(
        Hold(release, CustomToolCall("apply_patch", GREETING_PATCH)), Message("Via the helper.")
    )
    with relay_sandbox.client() as http:
        task_id = _create(http, target_repo, "Update the greeting.", backend="relay_helper")
        pid = codex_pid(http, task_id)
        try:
            env = proc_environ(pid)
            helper = [
                p
                for p in _pids_with_arg("hive.sandbox.relay_helper")
                if str(relay_sandbox.root) in proc_environ(p).get("HOME", "")
            ]
            helper_env = proc_environ(helper[0])
        finally:
            release.set()
        assert RELAY_TOKEN_ENV not in env
        assert not [k for k in env if "TOKEN" in k or "KEY" in k or "SECRET" in k]
        config = tomllib.loads(Path(env["CODEX_HOME"], "config.toml").read_text())
        provider = config["model_providers"][config["model_provider"]]
        assert provider["base_url"].startswith("http://127.0.0.1:") and "env_key" not in provider
        assert verify(SECRET, helper_env[RELAY_TOKEN_ENV]).task_id == task_id
        helper_values = set(helper_env.values())
        assert not {VENDOR_KEY, SECRET, *CANARY_ENV.values()} & helper_values
        st = wait_status(http, task_id, in_state("awaiting_review", "failed"), timeout_s=60)
        assert st["state"] == "awaiting_review", (st["reason"], st["attempts"])
        assert st["backend"] == "relay_helper"
    wait_for("the helper to exit", lambda: not _alive(set(helper)), timeout_s=10)
    assert all(r.headers["authorization"] == f"Bearer {VENDOR_KEY}" for r in model.model_requests())


def _pids_with_arg(arg: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if arg in proc_cmdline(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_no_change_in_the_repo_is_outcome_no_changes(
    relay_sandbox: SandboxServer, model: ScriptedModelServer, target_repo: Path
) -> None:
    """A Codex attempt that changes nothing ends as `no_changes`, not as a patch."""
    model.script(FunctionCall("exec_command", {"cmd": "ls"}), Message("Nothing to change."))
    with relay_sandbox.client() as http:
        task_id = _create(http, target_repo, "Look around only.")
        st = wait_status(
            http,
            task_id,
            lambda s: bool(s["attempts"]) and _attempt(s, 1)["state"] == "finished",
            timeout_s=60,
        )
        assert _attempt(st, 1)["outcome"] == "no_changes", st
        assert st["patch"] is None
        types = event_types(http, task_id)
        assert "PatchProposed" not in types
        assert types.count("CheckpointRecorded") == 1
