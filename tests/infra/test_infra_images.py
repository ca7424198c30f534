"""Container contract: the role images, built with podman and run as their manifests run them.

Each container gets its manifest's command, environment and writable mounts (tmpfs
owned by the pod's uid), a read-only root (no implicit tmpfs either) and its port
published on 127.0.0.1; secrets are test values, the database is the session's
PostgreSQL through its unix socket (mounted read-only). A missing podman or a
failed build fails these tests: `make test-tools` installs what they need.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hive.events import migrate
from tests.infra.manifests import BASE, OVERLAY, Obj, container, env_values, find, pod_spec, render
from tests.support.containers import (
    DB_SOCKET_DIR,
    POD_UID,
    DatabaseRelay,
    RoleContainer,
    WriteProbe,
    build_images,
)

pytestmark = [pytest.mark.containers, pytest.mark.timeout(3600)]

ROLES = ("gateway", "sandbox", "agent")
NAMESPACE = {"gateway": "openhive", "sandbox": "hive-sandbox", "agent": "hive-agents"}
SECRET = "container-test-internal-secret-0123456789abcdef"
# Paths a role must not write to; its documented mounts are added per role.
ELSEWHERE = [
    "/", "/app", "/app/.venv", "/etc", "/home", "/opt", "/root", "/run", "/srv", "/tmp",
    "/usr/local", "/var/tmp", "/var/lib", "/data", "/sandbox",
]  # fmt: skip
# (/dev/shm is writable in every container, a Kubernetes pod's too: the runtime's tmpfs.)
# What podman itself adds to every container's root (the mount points of /etc/hosts,
# /etc/resolv.conf, /etc/hostname, /run/.containerenv): not written by the role.
PODMAN_OWN = {
    "/etc",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/run",
    "/run/.containerenv",
}


@dataclass(frozen=True)
class RoleSpec:
    """How the base manifests run a role's main container."""

    role: str
    command: list[str]
    port: int
    probe: str
    writable: tuple[str, ...]
    env: dict[str, str]
    grace_s: int


def role_spec(rendered: list[Obj], role: str) -> RoleSpec:
    deployment = find(rendered, "Deployment", role, NAMESPACE[role])
    spec = pod_spec(deployment)
    c = container(spec, role)
    return RoleSpec(
        role=role,
        command=list(c["command"]),
        port=c["ports"][0]["containerPort"],
        probe=c["readinessProbe"]["httpGet"]["path"],
        writable=tuple(m["mountPath"] for m in c.get("volumeMounts", [])),
        env=env_values(c),
        grace_s=spec["terminationGracePeriodSeconds"],
    )


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """`make images` (scripts/images.sh): each role's image id."""
    return build_images(ROLES)


@pytest.fixture(scope="module", autouse=True)
def no_container_outlives_the_module() -> Iterator[None]:
    yield
    if left := RoleContainer.remove_leftovers():
        print(f"\nremoved containers a test left: {', '.join(left)}")


@pytest.fixture(scope="module")
def rendered() -> list[Obj]:
    return render(BASE)


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[DatabaseRelay]:
    """The session database as a socket a container mounts."""
    relay = DatabaseRelay(database_url)
    yield relay
    relay.close()


def start(
    spec: RoleSpec, images: dict[str, str], database: DatabaseRelay, read_only: bool = True
) -> RoleContainer:
    """The role's container as its manifest runs it (the sandbox with the database)."""
    return RoleContainer.run(
        images[spec.role],
        command=spec.command,
        container_port=spec.port,
        writable=spec.writable,
        env={**spec.env, "HIVE_INTERNAL_SECRET": SECRET},
        database=database if spec.role == "sandbox" else None,
        read_only=read_only,
    )


@pytest.fixture(scope="module", params=ROLES)
def running(
    request: pytest.FixtureRequest,
    images: dict[str, str],
    rendered: list[Obj],
    database: DatabaseRelay,
) -> Iterator[tuple[RoleSpec, RoleContainer]]:
    spec = role_spec(rendered, request.param)
    c = start(spec, images, database)
    try:
        c.wait_http(spec.probe)
        yield spec, c
    finally:
        c.remove()


def test_the_role_answers_its_probe_on_its_port_as_non_root_with_a_read_only_root(
    running: tuple[RoleSpec, RoleContainer],
) -> None:
    spec, c = running
    health = httpx.get(c.url + spec.probe).json()
    assert health["status"] == "ok" and health["role"] == spec.role
    assert c.exec("id", "-u").stdout.strip() == str(POD_UID)
    assert c.exec("id", "-g").stdout.strip() == str(POD_UID)
    doc = c.inspect()
    assert doc["HostConfig"]["ReadonlyRootfs"] is True
    assert doc["Config"]["User"] == f"{POD_UID}:{POD_UID}"


def test_the_role_can_write_exactly_its_documented_mounts(
    running: tuple[RoleSpec, RoleContainer],
) -> None:
    spec, c = running
    probe = WriteProbe([*ELSEWHERE, *spec.writable])
    assert probe.writable_in(c) == set(spec.writable)


def test_the_role_logs_json_lines_to_stdout(running: tuple[RoleSpec, RoleContainer]) -> None:
    spec, c = running
    httpx.get(c.url + spec.probe)
    lines = c.stdout_lines()
    # granian's own lifecycle lines ("[INFO] Starting granian") are its plain format;
    # every line the role's code writes is one JSON object.
    ours = [line for line in lines if not line.startswith("[")]
    for line in ours:
        assert isinstance(json.loads(line), dict), line


def test_the_role_stops_on_sigterm_within_its_grace_and_wrote_nothing_outside_its_mounts(
    images: dict[str, str], rendered: list[Obj], database: DatabaseRelay
) -> None:
    for role in ROLES:
        spec = role_spec(rendered, role)
        # Writable root this time, so `podman diff` shows any write a read-only root
        # would have refused.
        c = start(spec, images, database, read_only=False)
        try:
            c.wait_http(spec.probe)
            state = c.terminate(spec.grace_s)
            assert state["ExitCode"] == 0, c.logs()
            assert state["OOMKilled"] is False
            changed = {line.split(" ", 1)[1] for line in c.changes()}
            # The test's own mount point for the database socket is not the role's write.
            changed = {p for p in changed if not p.startswith(DB_SOCKET_DIR)}
            assert changed <= PODMAN_OWN | set(spec.writable), (role, changed)
        finally:
            c.remove()


# -- sandbox -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(
    images: dict[str, str], rendered: list[Obj], database: DatabaseRelay
) -> Iterator[RoleContainer]:
    spec = role_spec(rendered, "sandbox")
    c = start(spec, images, database)
    try:
        c.wait_http(spec.probe)
        yield c
    finally:
        c.remove()


def _finished(http: httpx.Client, created: httpx.Response) -> dict[str, Any]:
    """Poll a governed command until it is no longer running (60 s at most)."""
    assert created.status_code == 201, created.text
    status = dict(created.json())
    deadline = time.monotonic() + 60
    while status["state"] == "running" and time.monotonic() < deadline:
        status = http.get(f"/commands/{status['command_id']}/poll", params={"timeout_s": 5}).json()
    return status


def test_the_sandbox_image_runs_a_governed_command(sandbox: RoleContainer) -> None:
    http = httpx.Client(base_url=sandbox.url, headers={"X-Internal-Secret": SECRET}, timeout=30)
    created = http.post("/commands", json={"argv": ["git", "--version"]})
    assert created.status_code == 201, created.text
    status = _finished(http, created)
    assert status["state"] == "exited" and status["exit_code"] == 0, status
    assert status["stdout"]["preview"].startswith("git version")
    refused = http.post("/commands", json={"argv": ["sh", "-c", "id"]})
    assert refused.status_code == 422
    assert refused.json()["code"] == "shell_entrypoint_rejected"


def test_the_sandbox_image_confines_its_governed_processes(sandbox: RoleContainer) -> None:
    """Issue 9's confinement in force inside the image, under the manifest's settings."""
    confinement = httpx.get(sandbox.url + "/healthz").json()["confinement"]
    assert confinement["in_force"] is True and confinement["missing"] == [], confinement
    assert confinement["launcher"] == "/opt/hive/bin/hive-confine"
    assert confinement["filesystem"] and confinement["network"], confinement
    # A governed command cannot write outside its task's paths (Landlock, not the mounts:
    # /sandbox/commands itself is writable to the sandbox process).
    http = httpx.Client(base_url=sandbox.url, headers={"X-Internal-Secret": SECRET}, timeout=30)
    probe = "open('/sandbox/commands/escape', 'w')"
    status = _finished(http, http.post("/commands", json={"argv": ["python3", "-c", probe]}))
    assert status["state"] == "exited" and status["exit_code"] != 0, status
    assert "PermissionError" in status["stderr"]["preview"], status


def test_the_sandbox_image_carries_a_working_codex(sandbox: RoleContainer) -> None:
    done = sandbox.exec("/opt/codex/bin/codex", "--version")
    assert done.stdout.startswith("codex-cli "), done.stdout + done.stderr
    codex = httpx.get(sandbox.url + "/healthz").json()["codex"]
    assert codex["present"] is True, codex
    assert done.stdout.split()[-1] in json.dumps(codex), codex


# -- agent ---------------------------------------------------------------------------------


def test_the_agent_init_step_copies_defaults_without_overwriting(
    images: dict[str, str], rendered: list[Obj], tmp_path: Path
) -> None:
    spec = pod_spec(find(rendered, "Deployment", "agent", "hive-agents"))
    init = container(spec, "config-bootstrap")
    config = tmp_path / "config"
    config.mkdir()
    (config / "README.md").write_text("operator edit\n")
    os.chown(config, POD_UID, POD_UID)
    os.chown(config / "README.md", POD_UID, POD_UID)
    for _ in range(2):  # a restart runs it again over the populated volume
        c = RoleContainer.run(
            images["agent"], command=init["command"], binds={config: "/data/config"}
        )
        try:
            state = wait_exited(c)
            assert state["ExitCode"] == 0, c.logs()
        finally:
            c.remove()
    assert (config / "README.md").read_text() == "operator edit\n"
    defaults = Path(__file__).resolve().parents[2] / "services" / "agent" / "defaults"
    example = "agent.example.json"
    assert (config / example).read_bytes() == (defaults / example).read_bytes()
    assert {p.name for p in config.iterdir()} == {p.name for p in defaults.iterdir()}


def wait_exited(c: RoleContainer, timeout_s: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while c.running():
        assert time.monotonic() < deadline, f"{c.name} still runs:\n{c.logs()}"
        time.sleep(0.2)
    return dict(c.inspect()["State"])


# -- the full gateway runtime: its migration Job, then the gateway itself ---------------


async def test_the_migration_job_brings_an_empty_database_to_head_and_the_gateway_serves_it(
    images: dict[str, str], empty_database: Callable[[], str], tmp_path: Path
) -> None:
    overlay = render(OVERLAY)
    url = empty_database()
    relay = DatabaseRelay(url)
    job = container(pod_spec(find(overlay, "Job", "openhive-migrate", "openhive")), "migrate")
    c = RoleContainer.run(images["gateway"], command=job["command"], database=relay)
    try:
        state = wait_exited(c)
        assert state["ExitCode"] == 0, c.logs()
    finally:
        c.remove()
    assert await migrate.is_at_head(url)

    spec = role_spec(overlay, "gateway")
    secrets = {
        "HIVE_INTERNAL_SECRET": SECRET,
        "DASHBOARD_SESSION_SECRET": "container-test-session-secret-0123456789abcdef",
        "HIVE_CREDENTIAL_KEY": "container-test-credential-key-0123456789abcdef",
        "HIVE_WORKSPACE_APPLY_RELAY_TOKEN": "container-test-apply-token-0123456789abcdef",
    }
    gw = RoleContainer.run(
        images["gateway"],
        command=spec.command,
        container_port=spec.port,
        writable=spec.writable,
        env={**spec.env, **secrets},
        database=relay,
    )
    try:
        ready = gw.wait_http("/readyz")
        assert ready.json()["mode"] == "full" and ready.json()["db"] == "ok"
        assert WriteProbe([*ELSEWHERE, *spec.writable]).writable_in(gw) == set(spec.writable)
        logs = gw.logs()
        assert not [v for v in secrets.values() if v in logs]
        # The full gateway logs its own lines (startup wiring, access) as JSON objects.
        ours = [line for line in gw.stdout_lines() if not line.startswith("[")]
        assert ours and all(isinstance(json.loads(line), dict) for line in ours), ours
    finally:
        gw.remove()
        relay.close()
