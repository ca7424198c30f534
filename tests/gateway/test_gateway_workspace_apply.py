"""Apply-back through the relay, end to end: sandbox -> gateway -> a real git working tree.

A real gateway and a real sandbox (granian subprocesses), the real database and
real git. The sandbox runs in its own mount namespace in which the directory
holding the projects' repos is an empty tmpfs: like a sandbox pod, it cannot see
the workspaces the gateway holds. So the gateway seeds tasks with `archive_b64`
(`HIVE_SANDBOX_WORKSPACE_VISIBILITY=separate`) and the sandbox sends approved
patches to the gateway's `POST /internal/workspace-apply`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from hive.contracts.events import WorkspaceApplyRecorded
from hive.events import EventStore, create_pool
from hive.gateway.settings import GatewaySettings, SettingsError
from hive.sandbox.workruns.apply_back import ApplyBack
from tests.sandbox.workruns.conftest import create_migrated_database, drop_database
from tests.support.gateway_server import GatewayServer, base_env
from tests.support.sandbox_server import SandboxServer, free_port

APPLY_TOKEN = "apply-relay-token-canary-3f9d2c7b1a0e4d5f6a7b8c9d"
APPLY_PATH = "/internal/workspace-apply"
MAX_BODY = 256 * 1024
# A line that only ever exists inside patches: it must never reach a log.
PATCH_CANARY = "patch-content-canary-6c1e0f"


def hiding(path: Path) -> tuple[str, ...]:
    """argv prefix: run the rest in a mount namespace where `path` is an empty tmpfs."""
    ns = ["unshare", "--mount"]
    if os.geteuid() != 0:
        ns[1:1] = ["--user", "--map-root-user"]
    script = 'mount -t tmpfs -o size=1m,mode=0700 tmpfs "$1" && shift && exec "$@"'
    return (*ns, "sh", "-c", script, "sh", str(path))


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (as an operator would) and return stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=op", "-c", "user.email=op@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repo with `files` committed."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for name, content in files.items():
        (path / name).write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "operator's work")
    return path


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the working tree and the index/HEAD state: what 'untouched' compares."""
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    files[".git/HEAD@"] = git(repo, "rev-parse", "HEAD").encode()
    files[".git/index@"] = git(repo, "ls-files", "-s").encode()
    return files


def _plan(*steps: dict[str, Any]) -> str:
    return json.dumps({"steps": list(steps)})


@dataclass
class Relay:
    """The gateway, the sandbox that cannot see the workspaces, and where those live."""

    gateway: GatewayServer
    sandbox: SandboxServer
    workspaces: Path
    admin: httpx.Client

    def project(self, files: dict[str, str]) -> tuple[dict[str, str], Path]:
        """A project over a fresh git repo that only the gateway can see."""
        name = f"relay-{uuid.uuid4().hex[:8]}"
        repo = make_repo(self.workspaces / name, files)
        r = self.admin.post("/api/projects", json={"name": name, "workspace_path": str(repo)})
        assert r.status_code == 201, r.text
        doc: dict[str, str] = r.json()
        return doc, repo

    def create(self, project_id: str, *steps: dict[str, Any]) -> str:
        """A deterministic_proof task through the gateway; its id."""
        r = self.admin.post(
            f"/api/projects/{project_id}/dev-tasks",
            json={"instructions": _plan(*steps), "backend": "deterministic_proof"},
        )
        assert r.status_code == 201, r.text
        task_id: str = r.json()["task_id"]
        return task_id

    def wait(
        self, project_id: str, task_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Poll the task's status until `done` (60 s deadline)."""
        deadline = time.monotonic() + 60
        while True:
            r = self.admin.get(f"/api/projects/{project_id}/dev-tasks/{task_id}")
            status: dict[str, Any] = r.json()
            if done(status):
                return status
            assert time.monotonic() < deadline, f"task stuck in {status.get('state')}: {status}"
            time.sleep(0.1)

    def explain(self, status: dict[str, Any]) -> str:
        """State, reason and attempt outcomes: what a failed assertion should show."""
        attempts = [(a.get("outcome"), a.get("state")) for a in status.get("attempts", [])]
        return f"{status.get('state')}: {status.get('reason')!r}, attempts {attempts}"

    def patch(self, project_id: str, task_id: str) -> bytes:
        """The proposed diff, as the gateway serves it."""
        r = self.admin.get(f"/api/projects/{project_id}/dev-tasks/{task_id}/patch")
        assert r.status_code == 200, r.text
        return r.content

    def post_apply(self, body: dict[str, Any], token: str | None = APPLY_TOKEN) -> httpx.Response:
        """POST /internal/workspace-apply as the sandbox would."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.post(self.gateway.url + APPLY_PATH, json=body, headers=headers, timeout=30)


def apply_body(
    project: dict[str, str], task_id: str, diff: bytes, requested_path: str | None = None
) -> dict[str, Any]:
    """The sandbox's relay body for `diff`."""
    return {
        "task_id": task_id,
        "project_id": project["project_id"],
        "requested_path": requested_path or project["workspace_path"],
        "baseline_commit": "0" * 40,
        "patch_sha256": hashlib.sha256(diff).hexdigest(),
        "patch_b64": base64.b64encode(diff).decode(),
    }


def edit_patch(path: str, old: str, new: str) -> bytes:
    """A one-line unified diff of `path` (what `git diff` would print)."""
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"
    ).encode()


async def receipts(store: EventStore, task_id: str) -> list[WorkspaceApplyRecorded]:
    """The gateway's receipts for one task."""
    events = [r.decode() for r in await store.read_stream(f"workspaceapply-{task_id}")]
    return [e for e in events if isinstance(e, WorkspaceApplyRecorded)]


@pytest.fixture(scope="module")
async def relay_db(server_url: str) -> AsyncIterator[str]:
    """A database of this module's own: sandbox workers claim any pending attempt of their
    database, and the session's other worker sandboxes cannot reach this one's task dirs."""
    url = await create_migrated_database(server_url)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="module")
async def relay_store(relay_db: str) -> AsyncIterator[EventStore]:
    """The event store of the module's database (where the gateway keeps its receipts)."""
    pool = await create_pool(relay_db, max_size=2)
    yield EventStore(pool)
    await pool.close()


@pytest.fixture(scope="module")
def relay(relay_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """Gateway (separate visibility, apply token) + a sandbox blind to the workspaces."""
    base = tmp_path_factory.mktemp("apply-relay")
    workspaces = base / "gateway-only"
    workspaces.mkdir()
    probe = subprocess.run([*hiding(workspaces), "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespaces here (unshare: {probe.stderr.strip()[:200]})")
    sandbox_port = free_port()
    gateway = GatewayServer.start(
        relay_db,
        tmp=base / "gateway",
        sandbox_url=f"http://127.0.0.1:{sandbox_port}",
        env={
            "HIVE_SANDBOX_WORKSPACE_VISIBILITY": "separate",
            "HIVE_WORKSPACE_APPLY_RELAY_TOKEN": APPLY_TOKEN,
            "HIVE_WORKSPACE_APPLY_MAX_BYTES": str(MAX_BODY),
        },
    )
    try:
        sandbox = SandboxServer.start(
            relay_db,
            root=base / "sandbox" / "root",
            port=sandbox_port,
            launcher=hiding(workspaces),
            env={
                "HIVE_SANDBOX_WORKER": "true",
                "HIVE_SANDBOX_CODING_BACKEND": "deterministic_proof",
                "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL": gateway.url + APPLY_PATH,
                "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN": APPLY_TOKEN,
            },
        )
    except BaseException:
        gateway.stop()
        raise
    yield Relay(gateway, sandbox, workspaces, gateway.login())
    sandbox.stop()
    gateway.stop()
    for log in (gateway.read_log(), sandbox.read_log()):
        assert PATCH_CANARY not in log
    assert APPLY_TOKEN not in gateway.read_log()


# -- through the product: create, review, approve ---------------------------------------------


async def test_an_approved_patch_lands_in_the_gateway_repo_only_after_approval(
    relay: Relay, relay_store: EventStore
) -> None:
    project, repo = relay.project({"app.txt": "one\ntwo\n", "README.md": "hello\n"})
    pid = project["project_id"]
    task_id = relay.create(
        pid,
        {"write": {"path": "app.txt", "content": f"one\ntwo\n{PATCH_CANARY}\n"}},
        {"write": {"path": "docs/new.md", "content": "fresh\n"}},
    )
    status = relay.wait(pid, task_id, lambda s: s["state"] in ("awaiting_review", "failed"))
    assert status["state"] == "awaiting_review", relay.explain(status)
    manifest = status["workspace_manifest"]
    # The sandbox really is blind to the repo: it was seeded from the gateway's archive.
    assert manifest["requested_path_present"] is False
    assert manifest["source_archive_present"] is True
    assert manifest["apply_back_mode"] == "relay"
    before = snapshot(repo)
    assert git(repo, "status", "--porcelain") == ""
    assert await receipts(relay_store, task_id) == []  # nothing was sent before approval

    approved = relay.admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/approve", json={})
    assert approved.status_code == 200, approved.text
    final = relay.wait(pid, task_id, lambda s: s["state"] in ("applied", "apply_failed"))
    assert final["state"] == "applied", relay.explain(final)

    assert (repo / "app.txt").read_text() == f"one\ntwo\n{PATCH_CANARY}\n"
    assert (repo / "docs" / "new.md").read_text() == "fresh\n"
    assert (repo / "README.md").read_text() == "hello\n"
    # Working tree only: HEAD and the index are the operator's, untouched.
    after = snapshot(repo)
    assert after[".git/HEAD@"] == before[".git/HEAD@"]
    assert after[".git/index@"] == before[".git/index@"]
    assert git(repo, "status", "--porcelain").splitlines() == [" M app.txt", "?? docs/"]

    events = relay.admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}/events").json()
    applied = [e["payload"] for e in events if e["event_type"] == "PatchApplied"]
    assert applied == [applied[0]] and applied[0]["mode"] == "relay"
    assert applied[0]["target"] == relay.gateway.url + APPLY_PATH

    diff = relay.patch(pid, task_id)
    (receipt,) = await receipts(relay_store, task_id)
    assert receipt.outcome == "applied" and receipt.project_id == pid
    assert receipt.target == os.path.realpath(repo)
    assert receipt.patch_sha256 == hashlib.sha256(diff).hexdigest()
    assert receipt.size_bytes == len(diff)
    assert PATCH_CANARY.encode() not in msgspec.json.encode(receipt)

    # The sandbox retrying the same apply (a lost answer): applied once, answered as done.
    replay = relay.post_apply(apply_body(project, task_id, diff))
    assert replay.status_code == 200, replay.text
    assert replay.json() == {
        "applied": True,
        "already": True,
        "task_id": task_id,
        "patch_sha256": hashlib.sha256(diff).hexdigest(),
    }
    assert snapshot(repo) == after
    assert [r.outcome for r in await receipts(relay_store, task_id)] == [
        "applied",
        "already_applied",
    ]


async def test_a_conflicting_local_edit_is_apply_failed_with_gits_reason_and_untouched(
    relay: Relay, relay_store: EventStore
) -> None:
    project, repo = relay.project({"app.txt": "one\ntwo\n"})
    pid = project["project_id"]
    task_id = relay.create(pid, {"write": {"path": "app.txt", "content": "one\nTWO\n"}})
    relay.wait(pid, task_id, lambda s: s["state"] == "awaiting_review")
    (repo / "app.txt").write_text("one\nzwei\n")  # the operator kept working meanwhile
    before = snapshot(repo)

    approved = relay.admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/approve", json={})
    assert approved.status_code == 200, approved.text
    final = relay.wait(pid, task_id, lambda s: s["state"] in ("applied", "apply_failed"))
    assert final["state"] == "apply_failed", final

    assert snapshot(repo) == before
    events = relay.admin.get(f"/api/projects/{pid}/dev-tasks/{task_id}/events").json()
    (failed,) = [e["payload"] for e in events if e["event_type"] == "PatchApplyFailed"]
    assert failed["mode"] == "relay"
    assert failed["reason"].startswith("patch does not apply at the relay: patch does not apply:")
    assert "app.txt" in failed["reason"]  # git's own words name the file
    (receipt,) = await receipts(relay_store, task_id)
    assert receipt.outcome == "conflict" and receipt.reason and "app.txt" in receipt.reason


# -- the route itself -------------------------------------------------------------------------


def test_a_wrong_or_missing_token_is_refused_and_nothing_changes(relay: Relay) -> None:
    project, repo = relay.project({"app.txt": "safe\n"})
    body = apply_body(project, "t-token", edit_patch("app.txt", "safe", "pwned"))
    for token in (None, APPLY_TOKEN[:-1] + "x", APPLY_TOKEN + "x", relay.gateway.secret):
        r = relay.post_apply(body, token=token)
        assert r.status_code == 401, (token, r.text)
        assert r.json()["code"] == "unauthorized"
    # The right value under another scheme is still no bearer token.
    r = httpx.post(
        relay.gateway.url + APPLY_PATH, json=body, headers={"Authorization": f"Basic {APPLY_TOKEN}"}
    )
    assert r.status_code == 401
    # The internal secret in its own header is no substitute either.
    r = httpx.post(
        relay.gateway.url + APPLY_PATH,
        json=body,
        headers={"X-Internal-Secret": relay.gateway.secret},
    )
    assert r.status_code == 401
    assert (repo / "app.txt").read_text() == "safe\n"


async def test_a_requested_path_outside_the_project_is_refused(
    relay: Relay, relay_store: EventStore
) -> None:
    project, repo = relay.project({"app.txt": "mine\n"})
    _, elsewhere = relay.project({"victim.txt": "safe\n"})
    (repo / "escape").symlink_to(elsewhere)
    diff = edit_patch("victim.txt", "safe", "pwned")
    for requested in (str(elsewhere), str(repo / "escape"), f"{repo}/../{elsewhere.name}", "/"):
        r = relay.post_apply(apply_body(project, "t-outside", diff, requested_path=requested))
        assert r.status_code == 403, (requested, r.text)
        assert r.json()["code"] == "path_outside_workspace"
    relative = relay.post_apply(apply_body(project, "t-outside", diff, requested_path="rel/x"))
    assert relative.status_code == 422
    assert (elsewhere / "victim.txt").read_text() == "safe\n"
    outcomes = {r.outcome for r in await receipts(relay_store, "t-outside")}
    assert outcomes == {"refused"}


def test_a_digest_mismatch_bad_base64_or_unknown_project_is_refused(relay: Relay) -> None:
    project, repo = relay.project({"app.txt": "safe\n"})
    body = apply_body(project, "t-digest", edit_patch("app.txt", "safe", "pwned"))
    wrong_digest = {**body, "patch_sha256": hashlib.sha256(b"other").hexdigest()}
    r = relay.post_apply(wrong_digest)
    assert r.status_code == 422 and "patch_sha256" in r.json()["detail"]
    r = relay.post_apply({**body, "patch_b64": "not base64 at all!"})
    assert r.status_code == 422 and r.json()["code"] == "validation_failed"
    r = relay.post_apply({**body, "project_id": "prj_nope"})
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = relay.post_apply({k: v for k, v in body.items() if k != "patch_b64"})
    assert r.status_code in (400, 422)
    assert (repo / "app.txt").read_text() == "safe\n"


def test_an_oversized_body_is_payload_too_large(relay: Relay) -> None:
    project, repo = relay.project({"app.txt": "safe\n"})
    big = edit_patch("app.txt", "safe", "x" * MAX_BODY)
    r = relay.post_apply(apply_body(project, "t-big", big))
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "payload_too_large"
    assert (repo / "app.txt").read_text() == "safe\n"


async def test_a_patch_already_in_the_tree_is_answered_as_applied_without_a_change(
    relay: Relay, relay_store: EventStore
) -> None:
    project, repo = relay.project({"app.txt": "new\n"})  # the operator applied it by hand
    before = snapshot(repo)
    r = relay.post_apply(apply_body(project, "t-by-hand", edit_patch("app.txt", "old", "new")))
    assert r.status_code == 200, r.text
    assert r.json()["already"] is True
    assert snapshot(repo) == before
    assert [x.outcome for x in await receipts(relay_store, "t-by-hand")] == ["already_applied"]


async def test_a_replay_after_the_operator_reverted_does_not_apply_twice(
    relay: Relay, relay_store: EventStore
) -> None:
    project, repo = relay.project({"app.txt": "old\n"})
    body = apply_body(
        project, f"t-revert-{uuid.uuid4().hex[:6]}", edit_patch("app.txt", "old", "new")
    )
    assert relay.post_apply(body).json()["already"] is False
    assert (repo / "app.txt").read_text() == "new\n"
    git(repo, "checkout", "--", "app.txt")  # the operator undid it on purpose
    # The receipt, not the tree, says the patch was applied: a retry must not redo it.
    again = relay.post_apply(body)
    assert again.status_code == 200 and again.json()["already"] is True
    assert (repo / "app.txt").read_text() == "old\n"
    outcomes = [r.outcome for r in await receipts(relay_store, body["task_id"])]
    assert outcomes == ["applied", "already_applied"]


def test_concurrent_identical_applies_land_the_patch_once(relay: Relay) -> None:
    project, repo = relay.project({"app.txt": "a\nb\nc\n"})
    diff = b"diff --git a/app.txt b/app.txt\n--- a/app.txt\n+++ b/app.txt\n@@ -1,3 +1,4 @@\n a\n+x\n b\n c\n"
    body = apply_body(project, f"t-race-{uuid.uuid4().hex[:6]}", diff)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: relay.post_apply(body), range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert sorted(a.json()["already"] for a in answers) == [False, True, True, True]
    assert (repo / "app.txt").read_text() == "a\nx\nb\nc\n"


async def test_the_sandbox_reports_a_relay_refusal_by_status_code_and_detail(
    relay: Relay,
) -> None:
    project, repo = relay.project({"app.txt": "safe\n"})
    missing = str(repo / "not-there")  # inside the workspace, but no directory anywhere
    diff = edit_patch("app.txt", "safe", "new")
    url = relay.gateway.url + APPLY_PATH
    cases = [
        ("wrong-token-" + "x" * 32, "apply relay answered HTTP 401 unauthorized: "),
        (
            APPLY_TOKEN,
            "apply relay answered HTTP 422 validation_failed: "
            "the project's workspace does not exist on the gateway",
        ),
    ]
    for token, reason in cases:
        outcome = await ApplyBack(relay_url=url, relay_token=token).apply(
            task_id="t-sandbox-view",
            project_id=project["project_id"],
            requested_path=missing,
            baseline_commit=None,
            diff=diff,
        )
        assert outcome.mode == "relay" and outcome.error is not None
        assert outcome.error.startswith(reason), outcome.error
    assert (repo / "app.txt").read_text() == "safe\n"


def test_the_route_is_documented_with_its_bearer_when_configured(relay: Relay) -> None:
    doc = relay.gateway.client().get("/schema").json()
    op = doc["paths"][APPLY_PATH]["post"]
    assert op["security"] == [{"workspaceApplyToken": []}]
    assert "409" in op["responses"] and "413" in op["responses"]


def test_without_a_token_the_route_does_not_exist(gateway: GatewayServer) -> None:
    r = httpx.post(
        gateway.url + APPLY_PATH, json={}, headers={"Authorization": f"Bearer {APPLY_TOKEN}"}
    )
    assert r.status_code == 404
    assert APPLY_PATH not in gateway.client().get("/schema").json()["paths"]


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("changeme", "placeholder"),
        ("replace-me-with-the-apply-relay-token-please", "placeholder"),
        ("short-apply-token", "too short"),
    ],
)
def test_strict_startup_refuses_a_weak_apply_token(
    database_url: str, tmp_path: Path, value: str, problem: str
) -> None:
    env = {
        **base_env(database_url, tmp_path, "http://127.0.0.1:9"),
        "HIVE_WORKSPACE_APPLY_RELAY_TOKEN": value,
    }
    with pytest.raises(SettingsError) as info:
        GatewaySettings.from_env(env)
    assert info.value.setting == "HIVE_WORKSPACE_APPLY_RELAY_TOKEN"
    assert problem in str(info.value)
    relaxed = GatewaySettings.from_env({**env, "HIVE_STRICT_STARTUP": "false"})
    assert any("HIVE_WORKSPACE_APPLY_RELAY_TOKEN" in w for w in relaxed.warnings)


def test_the_apply_token_is_optional_and_redacted(database_url: str, tmp_path: Path) -> None:
    env = base_env(database_url, tmp_path, "http://127.0.0.1:9")
    assert GatewaySettings.from_env(env).workspace_apply_token is None
    settings = GatewaySettings.from_env({**env, "HIVE_WORKSPACE_APPLY_RELAY_TOKEN": APPLY_TOKEN})
    assert settings.workspace_apply_token == APPLY_TOKEN
    assert APPLY_TOKEN in settings.secret_values()
