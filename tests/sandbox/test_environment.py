"""The one env scrubber: a built environment, secrets refused unless a documented allowlist names them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hive.sandbox.environment import SecretEnvRefused, child_env, is_secret_name


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DASHSCOPE_API_KEY", "GEMINI_API_KEY",
        "DATABASE_URL", "ASYNC_DATABASE_URL", "DB_PASSWORD", "PGPASSWORD", "PGHOST",
        "POSTGRES_DSN", "REDIS_URL", "HIVE_INTERNAL_SECRET", "DASHBOARD_SESSION_SECRET",
        "HIVE_CREDENTIAL_KEY", "HIVE_BOOTSTRAP_ADMIN_PASSWORD",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN", "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN", "PIP_INDEX_URL",
        "SLACK_BOT_TOKEN", "SSH_AUTH_SOCK", "KUBECONFIG", "MY_APP_PASSWORD", "api_key",
        "GOOGLE_APPLICATION_CREDENTIALS", "SENTRY_DSN",
    ],
)  # fmt: skip
def test_credentials_and_database_urls_look_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["PATH", "HOME", "LANG", "TERM", "GIT_AUTHOR_NAME", "CI", "PYTHONHASHSEED", "TZ"]
)
def test_ordinary_names_do_not(name: str) -> None:
    assert not is_secret_name(name)


def test_the_env_is_built_not_inherited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary")
    monkeypatch.setenv("SOME_RANDOM_SETTING", "inherited?")
    env = child_env(home=tmp_path / "h", tmpdir=tmp_path / "t")
    assert env["HOME"] == str(tmp_path / "h")
    assert env["TMPDIR"] == str(tmp_path / "t")
    assert env["PATH"] == os.environ["PATH"]
    assert "OPENAI_API_KEY" not in env
    assert "SOME_RANDOM_SETTING" not in env
    assert "sk-canary" not in "".join(env.values())


def test_secret_names_pass_only_when_a_documented_allowlist_names_them(tmp_path: Path) -> None:
    with pytest.raises(SecretEnvRefused) as err:
        child_env(home=tmp_path, tmpdir=tmp_path, allow={"OPENAI_API_KEY": "sk-x"})
    assert "sk-x" not in str(err.value)
    env = child_env(
        home=tmp_path,
        tmpdir=tmp_path,
        allow={"OPENAI_API_KEY": "sk-x", "GIT_AUTHOR_NAME": "hive"},
        permit_secrets=["OPENAI_API_KEY"],
    )
    assert env["OPENAI_API_KEY"] == "sk-x"
    assert env["GIT_AUTHOR_NAME"] == "hive"


@pytest.mark.parametrize("name", ["", "A=B", "A\0B"])
def test_malformed_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        child_env(home=tmp_path, tmpdir=tmp_path, allow={name: "v"})
