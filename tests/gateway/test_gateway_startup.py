"""Strict startup: refusals with one line naming the setting; migration modes; the minimal app."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from hive.events import migrate
from hive.gateway.settings import PLACEHOLDERS, GatewaySettings, SettingsError
from tests.support.gateway_server import GatewayServer, base_env, granian
from tests.support.sandbox_server import free_port

REQUIRED_SECRETS = ("DASHBOARD_SESSION_SECRET", "HIVE_INTERNAL_SECRET", "HIVE_CREDENTIAL_KEY")


def _env(database_url: str, tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = base_env(database_url, tmp_path / "ws", "http://127.0.0.1:9")
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _import_app(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What granian does first: import `hive.gateway.main:app` (settings are read there)."""
    return subprocess.run(
        [sys.executable, "-c", "import hive.gateway.main as m; m.app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refusal_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("hive gateway: refusing")]


WEAK_VALUES = [
    (None, "is required"),
    ("changeme", "placeholder"),
    ("CHANGE_ME-please-32-characters-long", "placeholder"),
    ("too-short-secret-123", "too short"),
    ("a" * 48, "repeated character"),
]


@pytest.mark.parametrize("setting", REQUIRED_SECRETS)
@pytest.mark.parametrize(("value", "problem"), WEAK_VALUES)
def test_weak_secrets_are_refused_naming_the_setting(
    database_url: str, setting: str, value: str | None, problem: str
) -> None:
    with pytest.raises(SettingsError) as info:
        GatewaySettings.from_env(_env(database_url, Path("/tmp"), **{setting: value}))
    assert info.value.setting == setting and problem in str(info.value)


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [(s, None, "is required") for s in REQUIRED_SECRETS]
    + [("HIVE_CREDENTIAL_KEY", v, p) for v, p in WEAK_VALUES[1:]],
)
def test_strict_startup_exits_with_one_line(
    database_url: str, tmp_path: Path, setting: str, value: str | None, problem: str
) -> None:
    proc = _import_app(_env(database_url, tmp_path, **{setting: value}))
    assert proc.returncode == 3
    lines = _refusal_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert setting in lines[0] and problem in lines[0]
    assert proc.stderr.strip() == lines[0]  # one clear line, no traceback
    if value:
        assert value not in proc.stderr


def test_strict_startup_under_granian_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    code, output = GatewayServer.run_once(
        _env(database_url, tmp_path, DASHBOARD_SESSION_SECRET="placeholder")
    )
    assert code != 0
    lines = _refusal_lines(output)
    assert len(lines) == 1 and "DASHBOARD_SESSION_SECRET" in lines[0]


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDERS))
def test_every_known_placeholder_is_refused(database_url: str, placeholder: str) -> None:
    env = _env(database_url, Path("/tmp"), HIVE_INTERNAL_SECRET=placeholder)
    with pytest.raises(SettingsError) as info:
        GatewaySettings.from_env(env)
    assert info.value.setting == "HIVE_INTERNAL_SECRET"


def test_outside_strict_mode_missing_secrets_are_generated_with_a_warning(
    database_url: str, tmp_path: Path
) -> None:
    env = _env(
        database_url,
        tmp_path,
        HIVE_STRICT_STARTUP="false",
        DASHBOARD_SESSION_SECRET=None,
        HIVE_CREDENTIAL_KEY="short",
    )
    settings = GatewaySettings.from_env(env)
    assert settings.generated_secrets == ("DASHBOARD_SESSION_SECRET",)
    assert len(settings.session_secret) >= 32
    assert any("HIVE_CREDENTIAL_KEY" in w for w in settings.warnings)


def test_unreachable_database_is_refused_naming_database_url(tmp_path: Path) -> None:
    dead = f"postgresql://hive:s3cret-db-password@127.0.0.1:{free_port()}/hive"
    code, output = GatewayServer.run_once(_env(dead, tmp_path))
    assert code != 0
    lines = _refusal_lines(output)
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]
    assert "s3cret-db-password" not in output


async def _schema_at(empty: Callable[[], str], revision: str) -> str:
    url = empty()
    await migrate.upgrade_async(url, revision)
    return url


def _first_health(port: int, proc: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.HTTPError:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "no answer on /healthz"
            time.sleep(0.05)


async def test_check_mode_refuses_an_old_schema_and_leaves_it_alone(
    empty_database: Callable[[], str], tmp_path: Path
) -> None:
    url = await _schema_at(empty_database, "0003_commands")
    code, output = GatewayServer.run_once(_env(url, tmp_path))
    assert code != 0
    lines = _refusal_lines(output)
    assert len(lines) == 1, output
    assert "HIVE_STARTUP_MIGRATION_MODE" in lines[0] and "0003_commands" in lines[0]
    assert await migrate.current_revision(url) == "0003_commands"  # check mode never migrates


async def test_check_mode_refuses_an_empty_database_without_metadata_create(
    empty_database: Callable[[], str], tmp_path: Path
) -> None:
    url = empty_database()
    code, output = GatewayServer.run_once(_env(url, tmp_path))
    assert code != 0 and "HIVE_STARTUP_MIGRATION_MODE" in "\n".join(_refusal_lines(output))
    assert await migrate.current_revision(url) is None


async def test_metadata_create_builds_an_empty_database_at_head(
    empty_database: Callable[[], str], tmp_path: Path
) -> None:
    url = empty_database()
    gw = GatewayServer.start(url, tmp=tmp_path, env={"HIVE_METADATA_CREATE_ON_STARTUP": "true"})
    try:
        assert await migrate.is_at_head(url)
        health = httpx.get(gw.url + "/healthz").json()
        assert health == {
            "status": "ok",
            "role": "gateway",
            "mode": "full",
            "db": "ok",
            "agents": health["agents"],
        }
    finally:
        assert gw.stop() == 0


async def test_upgrade_mode_migrates_an_old_schema(
    empty_database: Callable[[], str], tmp_path: Path
) -> None:
    url = await _schema_at(empty_database, "0001_event_store")
    gw = GatewayServer.start(url, tmp=tmp_path, env={"HIVE_STARTUP_MIGRATION_MODE": "upgrade"})
    try:
        assert await migrate.is_at_head(url)
        conn = await asyncpg.connect(url)
        try:
            assert (
                await conn.fetchval("SELECT count(*) FROM operators WHERE username = 'admin'") == 1
            )
        finally:
            await conn.close()
    finally:
        gw.stop()


def test_outside_strict_mode_an_unreachable_database_means_starting_not_exit(
    tmp_path: Path,
) -> None:
    dead = f"postgresql://hive@127.0.0.1:{free_port()}/hive"
    env = _env(dead, tmp_path, HIVE_STRICT_STARTUP="false")
    port = free_port()
    proc = subprocess.Popen(
        granian("gateway", port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        r = _first_health(port, proc)
        assert r.status_code == 503
        assert r.json()["status"] == "starting"
        assert "DATABASE_URL" in r.json()["db"] or r.json()["db"] == "connecting"
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"username": "admin", "password": "whatever-123"},
        )
        assert login.status_code == 503 and login.json()["code"] == "unavailable"
    finally:
        proc.terminate()
        proc.wait(20)


def test_minimal_gateway_answers_without_any_configuration() -> None:
    port = free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "VIRTUAL_ENV") if k in os.environ}
    proc = subprocess.Popen(
        granian("gateway-minimal", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        r = _first_health(port, proc)
        assert r.status_code == 200
        assert r.json()["mode"] == "minimal" and r.json()["role"] == "gateway"
        assert httpx.get(f"http://127.0.0.1:{port}/api/projects").status_code == 404
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
