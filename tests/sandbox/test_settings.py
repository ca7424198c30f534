"""SandboxSettings: one Struct (Work Run settings included), read once, checked at startup;
`hive dev` forwards exactly the sandbox's settings to the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hive.cli import dev
from hive.sandbox.settings import SandboxSettings, environment_names

BASE = {"HIVE_INTERNAL_SECRET": "s"}


def test_work_run_settings_are_part_of_the_sandbox_settings() -> None:
    settings = SandboxSettings.from_env(
        BASE
        | {
            "HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS": "7",
            "HIVE_SANDBOX_WORKER_POLL_S": "0.3",
            "HIVE_SANDBOX_ARCHIVE_MAX_BYTES": "1024",
            "HIVE_SANDBOX_ARCHIVE_MAX_FILES": "12",
            "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL": "https://relay.example/apply",
            "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN": "relay-token-canary",
            "HIVE_SANDBOX_GIT_TIMEOUT_S": "9",
        }
    )
    wr = settings.workruns
    assert (wr.max_concurrent_attempts, wr.poll_interval_s) == (7, 0.3)
    assert (wr.archive_max_bytes, wr.archive_max_files, wr.git_timeout_s) == (1024, 12, 9.0)
    assert wr.apply_relay_url == "https://relay.example/apply"
    assert wr.apply_relay_token == "relay-token-canary"
    # Secrets never show in a settings dump.
    assert "relay-token-canary" not in repr(settings)
    secret = "canary-internal-secret-5d1e"
    assert secret not in repr(SandboxSettings.from_env({"HIVE_INTERNAL_SECRET": secret}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS", "many"),
        ("HIVE_SANDBOX_GIT_TIMEOUT_S", "0"),
        ("HIVE_SANDBOX_ARCHIVE_MAX_BYTES", "-1"),
        ("HIVE_SANDBOX_TOKEN_REVOCATION_CACHE_S", "60"),
        # One rule with the gateway: a present value is never turned into the default.
        ("HIVE_SANDBOX_LEASE_TTL_S", "0"),
        ("HIVE_SANDBOX_WORKER", "maybe"),
        ("HIVE_SANDBOX_EGRESS_PORTS", "443,http"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        SandboxSettings.from_env(BASE | {name: value})


def test_flags_read_as_everywhere_else() -> None:
    # `off` and `no` switch the worker off (they once read as true: not 0/false/no).
    assert not SandboxSettings.from_env(BASE | {"HIVE_SANDBOX_WORKER": "off"}).worker_enabled
    assert not SandboxSettings.from_env(
        BASE | {"HIVE_SANDBOX_COMMAND_SYNC_COMMIT": "OFF"}
    ).command_sync_commit
    assert SandboxSettings.from_env(BASE | {"HIVE_SANDBOX_WORKER": "on"}).worker_enabled


def test_the_sandbox_refuses_to_start_on_a_bad_work_run_setting() -> None:
    # Checked when the app is built, before any database connection: one line, exit 3.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HIVE_INTERNAL_SECRET": "s",
        "HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS": "lots",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from hive.sandbox.main import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS" in done.stderr


def test_environment_names_come_from_the_loader() -> None:
    names = set(environment_names())
    assert {
        "HIVE_SANDBOX_LEASE_TTL_S",
        "HIVE_SANDBOX_WORKER",
        "HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN",
        "HIVE_SANDBOX_ARCHIVE_MAX_BYTES",
        "HIVE_SANDBOX_ARCHIVE_MAX_FILES",
        "HIVE_SANDBOX_GIT_TIMEOUT_S",
        "HIVE_SANDBOX_CODEX_MODEL",
        "HIVE_SANDBOX_COMMAND_ALLOWLIST",
    } <= names
    assert all(n.startswith("HIVE_") or n == "DATABASE_URL" for n in names)


def test_hive_dev_forwards_sandbox_settings_to_the_sandbox_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator = {
        "HIVE_SANDBOX_LEASE_TTL_S": "45",
        "HIVE_SANDBOX_WORKER": "false",
        "HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS": "2",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL": "https://relay.example/apply",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN": "relay-token-canary",
        "HIVE_SANDBOX_ARCHIVE_MAX_BYTES": "4096",
        "HIVE_SANDBOX_ARCHIVE_MAX_FILES": "10",
        "HIVE_SANDBOX_CODEX_MODEL": "gpt-5.5",
        "HIVE_SANDBOX_ROOT": "/somewhere/else",
        "UNRELATED_SECRET": "nope",
    }
    for k, v in operator.items():
        monkeypatch.setenv(k, v)
    common = {"HIVE_SANDBOX_ROOT": "/hive-dev/sandbox", "DATABASE_URL": "postgresql://dev"}
    forwarded = dev.sandbox_env(common)
    assert forwarded == {
        k: v for k, v in operator.items() if k not in ("HIVE_SANDBOX_ROOT", "UNRELATED_SECRET")
    }
    # The gateway and the dashboard start from the base env: no sandbox setting, no relay token.
    assert not [k for k in dev._base_env() if k.startswith("HIVE_SANDBOX_")]
