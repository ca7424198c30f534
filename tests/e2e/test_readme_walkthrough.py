"""The README's "first Work Run", run verbatim against a real `hive dev`, and `hive demo`.

`hive dev` runs as `make dev` runs it (its own process tree, data dir, free
ports), from a directory that is not the repository, on an empty database of
the session's server (it migrates it). The walkthrough's shell blocks are taken
from README.md between its `walkthrough` markers and run, in order, in one bash
with HIVE and PASSWORD set as the README tells the operator to; each block's
answer is checked. The transcript is printed (`pytest -s` shows it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hive.events.database import with_database
from tests.support.databases import create_database, drop_database
from tests.support.hive_dev import ADMIN_PASSWORD, HiveDev

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- walkthrough:begin -->", "<!-- walkthrough:end -->"


def walkthrough_blocks(readme: Path = REPO / "README.md") -> list[str]:
    """The ```sh blocks between the README's walkthrough markers."""
    text = readme.read_text()
    assert BEGIN in text and END in text, "README.md lost its walkthrough markers"
    section = text[text.index(BEGIN) : text.index(END)]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
async def dev_database(server_url: str) -> AsyncIterator[str]:
    """An empty database for `hive dev` to migrate."""
    name = await create_database(server_url, "hive_dev_e2e")
    yield with_database(server_url, name)
    await drop_database(server_url, name)


@pytest.fixture(scope="module")
def hive_dev(dev_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HiveDev]:
    """`hive dev` with the sandbox's default backend (codex_cli) and no model provider."""
    root = tmp_path_factory.mktemp("hive-dev")
    dev = HiveDev.start(database_url=dev_database, data_dir=root / "data", cwd=root)
    yield dev
    dev.stop()


def _split(output: str, count: int) -> list[tuple[str, int]]:
    """Each block's output and exit status, from the markers the runner put between them."""
    out = []
    for i in range(count):
        m = re.search(rf"@@@ begin {i}\n(.*?)@@@ end {i} rc=(\d+)\n", output, re.S)
        assert m, f"block {i} did not finish:\n{output}"
        out.append((m.group(1), int(m.group(2))))
    return out


def _answer(line: str) -> tuple[int, dict[str, object]]:
    """`api`'s output line: the HTTP status, then the JSON body."""
    status, _, body = line.partition(" ")
    return int(status), json.loads(body)


def _login(text: str, dev: HiveDev) -> None:
    status, doc = _answer(text.strip())
    assert status == 200 and doc["username"] == "admin" and doc["csrf_token"]


def _project(text: str, dev: HiveDev) -> None:
    status, doc = _answer(text.strip())
    assert status == 201, doc
    ws = Path(str(doc["workspace_path"]))
    assert ws == dev.data_dir / "workspace" / "hello"
    log = subprocess.run(["git", "-C", str(ws), "log", "--oneline"], capture_output=True, text=True)
    assert log.returncode == 0 and len(log.stdout.splitlines()) == 1  # the initial commit


def _work_run(text: str, dev: HiveDev) -> None:
    status, doc = _answer(text.strip())
    assert status == 201, doc
    assert doc["backend"] == "deterministic_proof" and doc["state"] in ("queued", "running")


def _live(text: str, dev: HiveDev) -> None:
    events = [ln.removeprefix("event: ") for ln in text.splitlines()]
    assert events[:3] == ["DevTaskCreated", "WorkspaceSeeded", "AttemptStarted"], events


def _review(text: str, dev: HiveDev) -> None:
    state, _, patch = text.partition("\n")
    assert state == "awaiting_review", text
    assert "+++ b/hello.py" in patch and "+print('hello')" in patch


def _approve(text: str, dev: HiveDev) -> None:
    lines = text.splitlines()
    assert lines[0] == "applied", text
    assert lines[1] == "print('hello')"
    timeline = [ln.split(" ", 1)[1] for ln in lines[2:]]
    assert timeline[0] == "DevTaskCreated" and timeline[-2:] == ["TaskApproved", "PatchApplied"]
    assert "PatchProposed" in timeline and "CommandFinished" in timeline


def _mistakes(text: str, dev: HiveDev) -> None:
    answers = [_answer(ln) for ln in text.strip().splitlines()]
    assert [status for status, _ in answers] == [422, 422, 409, 422], text
    (_, plan), (_, backend), (_, shared), (_, not_dir) = answers
    assert "instructions are not JSON" in str(plan["detail"]) and '{"steps": [...]}' in str(
        plan["detail"]
    )
    assert "codex_cli" in str(backend["detail"]) and "To enable it" in str(backend["detail"])
    assert "already uses the workspace" in str(shared["detail"])
    assert str(not_dir["detail"]) == "workspace_path /proc/version exists and is not a directory"
    for _, problem in answers:  # gateway paths only
        assert str(problem["instance"]).startswith("/api/projects"), problem
        assert problem["code"] in ("validation_failed", "conflict")


def _nothing(text: str, dev: HiveDev) -> None:
    assert text == "", text


CHECKS: list[Callable[[str, HiveDev], None]] = [
    _nothing,  # variables and the two helpers
    _login,
    _project,
    _work_run,
    _live,
    _review,
    _approve,
    _mistakes,
]


def test_the_readme_walkthrough_runs_as_written(hive_dev: HiveDev, tmp_path: Path) -> None:
    blocks = walkthrough_blocks()
    assert len(blocks) == len(CHECKS), "the README walkthrough changed: update CHECKS with it"
    script = "".join(
        f"echo '@@@ begin {i}'\n{block}echo \"@@@ end {i} rc=$?\"\n"
        for i, block in enumerate(blocks)
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "HIVE": hive_dev.gateway_url,
        "PASSWORD": ADMIN_PASSWORD,
    }
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    results = _split(done.stdout, len(blocks))
    transcript = "\n".join(
        "$ " + block.rstrip().replace("\n", "\n  ") + "\n" + text
        for block, (text, _) in zip(blocks, results, strict=True)
    )
    print(f"\n--- README walkthrough, as run against {hive_dev.gateway_url} ---\n{transcript}")
    assert done.stderr == "", done.stderr
    for i, ((text, rc), check) in enumerate(zip(results, CHECKS, strict=True)):
        assert rc == 0, f"block {i} exited {rc}:\n{blocks[i]}\n{text}"
        check(text, hive_dev)


def test_make_dev_prints_every_component_with_its_state(hive_dev: HiveDev) -> None:
    dev = hive_dev
    assert "ready, schema at" in dev.line("database")
    for name, port in (("sandbox", dev.sandbox_port), ("gateway", dev.port)):
        assert f"http://127.0.0.1:{port}" in dev.line(name) and "ready" in dev.line(name)
    dashboard = dev.line("dashboard")
    assert f"http://127.0.0.1:{dev.dashboard_port}" in dashboard
    built = (REPO / "web" / ".next" / "standalone" / "server.js").exists()
    assert ("ready" in dashboard) if built else ("not built" in dashboard)
    assert f"{dev.gateway_url}/schema/swagger" in dev.line("api")
    assert f"{dev.gateway_url}/schema " in dev.line("openapi") + " "
    backends = {ln.split()[1]: ln for ln in dev.lines if ln.startswith("backend ")}
    assert set(backends) == {"codex_cli", "relay_helper", "deterministic_proof"}
    assert backends["deterministic_proof"].endswith("usable")
    assert "(default)" in backends["codex_cli"] and "not usable" in backends["codex_cli"]
    assert "To enable:" in backends["codex_cli"] and "To enable:" in backends["relay_helper"]
    login = f"login: admin / {ADMIN_PASSWORD}  (from HIVE_BOOTSTRAP_ADMIN_PASSWORD)"
    assert login in dev.lines
    record = json.loads((dev.data_dir / "dev.json").read_text())
    assert record["gateway_url"] == dev.gateway_url and record["pid"] == dev.proc.pid
    assert ADMIN_PASSWORD not in (dev.data_dir / "dev.json").read_text()


def test_the_sandbox_healthz_says_which_backends_are_usable(hive_dev: HiveDev) -> None:
    health = httpx.get(f"http://127.0.0.1:{hive_dev.sandbox_port}/healthz").json()
    assert health["backends"]["deterministic_proof"]["usable"] is True
    codex = health["backends"]["codex_cli"]
    assert codex["usable"] is False and "HIVE_SANDBOX_CODEX_AUTH_MODE=relay" in codex["enable"]


def _hive(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hive.cli.main", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_hive_demo_finds_hive_dev_by_its_data_dir_and_works_as_an_operator(
    hive_dev: HiveDev, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HIVE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    done = _hive("demo", "--data-dir", str(hive_dev.data_dir), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"gateway {hive_dev.gateway_url} (found: {hive_dev.data_dir / 'dev.json'})" in out
    assert "timeline (live):" in out and "AttemptFinished" in out and "PatchApplied" in out
    assert "state: applied" in out
    name = re.search(r"^project (demo-\S+) \((prj_\w+)\)", out, re.M)
    assert name is not None
    # Through the gateway: the project is the operator's, with its Work Run.
    with httpx.Client(base_url=hive_dev.gateway_url) as http:
        http.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        projects = {p["name"]: p for p in http.get("/api/projects").json()}
        assert name.group(1) in projects
        runs = http.get(f"/api/projects/{name.group(2)}/dev-tasks").json()
    assert [r["state"] for r in runs] == ["applied"]
    ws = Path(projects[name.group(1)]["workspace_path"])
    assert (ws / "hello.py").read_text() == "print('hello from a Work Run')\n"


def test_hive_demo_without_a_running_hive_dev_says_what_to_do(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    done = _hive("demo", "--data-dir", str(tmp_path / "nothing"), cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "no running `hive dev` recorded in" in done.stderr and "--gateway-url" in done.stderr


def test_a_relay_backed_work_run_without_a_model_provider_is_refused_with_the_fix(
    hive_dev: HiveDev, tmp_path: Path
) -> None:
    """relay_helper can run in the sandbox, but the gateway's relay has no provider to call."""
    health = httpx.get(f"http://127.0.0.1:{hive_dev.sandbox_port}/healthz").json()
    with httpx.Client(base_url=hive_dev.gateway_url) as http:
        login = http.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        http.headers["X-CSRFToken"] = login.json()["csrf_token"]
        project = http.post("/api/projects", json={"name": f"relay-{tmp_path.name}"}).json()
        r = http.post(
            f"/api/projects/{project['project_id']}/dev-tasks",
            json={"backend": "relay_helper", "instructions": "Add a hello.py"},
        )
    assert r.status_code == 422, r.text
    if health["backends"]["relay_helper"]["usable"]:  # the codex binary is installed
        assert "HIVE_MODEL_PROVIDERS" in r.json()["detail"]
        assert "deterministic_proof" in r.json()["detail"]
    else:
        assert "codex CLI missing" in r.json()["detail"] and "make tools" in r.json()["detail"]
