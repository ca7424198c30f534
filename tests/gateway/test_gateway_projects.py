"""Project creation makes the workspace usable, and two projects never share one."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx

from tests.support.gateway_server import GatewayServer


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_a_missing_workspace_is_created_as_a_git_repository_with_one_commit(
    admin: httpx.Client, gateway: GatewayServer
) -> None:
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    r = admin.post("/api/projects", json={"name": name})
    assert r.status_code == 201, r.text
    ws = Path(r.json()["workspace_path"])
    assert ws == Path(gateway.env["HIVE_WORKSPACE"]) / name
    assert (ws / ".git").is_dir()
    assert _git(ws, "log", "--format=%s") == "OpenHive workspace"
    assert _git(ws, "status", "--porcelain") == ""


def test_an_existing_directory_is_used_as_it_is(admin: httpx.Client, tmp_path: Path) -> None:
    ws = tmp_path / "checkout"
    ws.mkdir()
    (ws / "main.py").write_text("print(1)\n")
    r = admin.post(
        "/api/projects", json={"name": f"existing-{tmp_path.name}", "workspace_path": str(ws)}
    )
    assert r.status_code == 201, r.text
    assert r.json()["workspace_path"] == str(ws)
    assert sorted(p.name for p in ws.iterdir()) == ["main.py"]  # no repository forced on it


def test_names_or_paths_that_come_to_one_directory_conflict(
    admin: httpx.Client, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    first = admin.post("/api/projects", json={"name": f"evil-{tag}"})
    assert first.status_code == 201, first.text
    # `../evil-x` slugs to `evil-x`: the same directory under HIVE_WORKSPACE.
    second = admin.post("/api/projects", json={"name": f"../evil-{tag}"})
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "conflict"
    assert (
        f"evil-{tag}" in second.json()["detail"] and "share a workspace" in second.json()["detail"]
    )
    # An explicit path to the same directory, spelled differently.
    ws = Path(first.json()["workspace_path"])
    spelled = f"{ws.parent}/./{ws.name}/"
    third = admin.post("/api/projects", json={"name": f"alias-{tag}", "workspace_path": spelled})
    assert third.status_code == 409, third.text
    link = tmp_path / "link"
    link.symlink_to(ws)
    fourth = admin.post("/api/projects", json={"name": f"link-{tag}", "workspace_path": str(link)})
    assert fourth.status_code == 409, fourth.text
    names = [p["name"] for p in admin.get("/api/projects").json()]
    assert f"../evil-{tag}" not in names and f"alias-{tag}" not in names


def test_a_workspace_that_cannot_be_used_is_422_naming_the_cause(
    admin: httpx.Client, gateway: GatewayServer, tmp_path: Path
) -> None:
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    r = admin.post(
        "/api/projects", json={"name": f"file-{tmp_path.name}", "workspace_path": str(a_file)}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"workspace_path {a_file} exists and is not a directory"
    missing = tmp_path / "not-there"  # outside HIVE_WORKSPACE: never created by the gateway
    r = admin.post(
        "/api/projects", json={"name": f"missing-{tmp_path.name}", "workspace_path": str(missing)}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"workspace_path {missing} does not exist")
    assert "HIVE_WORKSPACE" in r.json()["detail"] and not missing.exists()
    blocker = Path(gateway.env["HIVE_WORKSPACE"]) / f"blocker-{tmp_path.name}"
    blocker.write_text("a file where a directory would go")
    r = admin.post(
        "/api/projects",
        json={"name": f"under-{tmp_path.name}", "workspace_path": f"{blocker.name}/sub"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"cannot create the workspace {blocker / 'sub'}: ")
    # Nothing was stored for either.
    names = [p["name"] for p in admin.get("/api/projects").json()]
    for prefix in ("file", "missing", "under"):
        assert f"{prefix}-{tmp_path.name}" not in names


def test_a_duplicate_name_creates_nothing_on_disk(admin: httpx.Client, tmp_path: Path) -> None:
    name = f"dup-{uuid.uuid4().hex[:8]}"
    assert admin.post("/api/projects", json={"name": name}).status_code == 201
    other = tmp_path / "never-made"
    r = admin.post("/api/projects", json={"name": name, "workspace_path": str(other)})
    assert r.status_code == 409
    assert not other.exists()
