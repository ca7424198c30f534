"""argv, env and config.toml of a Codex attempt, as the pure builders make them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive.sandbox.codex import invocation
from hive.sandbox.codex.invocation import (
    RELAY_TOKEN_ENV,
    AttemptPaths,
    CodexConfigError,
    Provider,
)
from hive.sandbox.codex.settings import CodexSettings
from hive.sandbox.environment import is_secret_name

SOURCE_ENV = {
    "OPENAI_API_KEY": "sk-vendor",
    "DASHSCOPE_API_KEY": "sk-other",
    "DATABASE_URL": "postgresql://u:p@db/hive",
    "HIVE_INTERNAL_SECRET": "internal",
    "PATH": "/usr/bin:/bin",
}


def _paths(tmp_path: Path) -> AttemptPaths:
    return AttemptPaths.for_attempt(tmp_path / "task" / "scratch", 2, tmp_path / "task" / "repo")


def test_paths_are_per_attempt_under_scratch_and_codex_home_is_not_in_tmpdir(
    tmp_path: Path,
) -> None:
    p = _paths(tmp_path)
    scratch = tmp_path / "task" / "scratch"
    for d in (p.home, p.codex_home, p.tmpdir, p.last_message):
        assert d.is_relative_to(scratch / "codex" / "attempt-2")
        assert not d.is_relative_to(tmp_path / "task" / "repo")
    assert not p.codex_home.is_relative_to(p.tmpdir)
    assert p.config_toml == p.codex_home / "config.toml"


def test_paths_inside_the_repo_are_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(CodexConfigError):
        AttemptPaths.for_attempt(repo / "scratch", 1, repo)


def test_config_toml_for_the_relay() -> None:
    provider = invocation.provider_for(CodexSettings(auth_mode="relay"), "http://127.0.0.1:8080/")
    assert provider == Provider(
        id="openhive-relay",
        name="OpenHive gateway relay",
        base_url="http://127.0.0.1:8080/relay/v1",
        env_key=RELAY_TOKEN_ENV,
    )
    config = tomllib.loads(invocation.config_toml("qwen3-max", provider))
    assert config == {
        "model": "qwen3-max",
        "model_provider": "openhive-relay",
        "analytics": {"enabled": False},
        "features": {
            "plugins": False,
            "unbounded_connection_retries": False,
            "shell_snapshot": False,
        },
        "model_providers": {
            "openhive-relay": {
                "name": "OpenHive gateway relay",
                "base_url": "http://127.0.0.1:8080/relay/v1",
                "env_key": RELAY_TOKEN_ENV,
                "wire_api": "responses",
                "request_max_retries": 0,
                "stream_max_retries": 0,
            }
        },
    }


def test_relay_mode_without_a_gateway_is_a_config_error() -> None:
    with pytest.raises(CodexConfigError, match="HIVE_GATEWAY_URL"):
        invocation.provider_for(CodexSettings(auth_mode="relay"), None)


def test_configured_provider_sends_a_key_only_in_env_mode() -> None:
    base = {"provider_id": "dash", "provider_base_url": "https://llm.example/v1/"}
    scrubbed = invocation.provider_for(CodexSettings(**base), None)
    assert scrubbed is not None and scrubbed.env_key is None
    env = invocation.provider_for(
        CodexSettings(
            **base,
            auth_mode="env",
            env_allowlist=["DASHSCOPE_API_KEY"],
            provider_env_key="DASHSCOPE_API_KEY",
        ),
        None,
    )
    assert env is not None and env.env_key == "DASHSCOPE_API_KEY"
    assert env.base_url == "https://llm.example/v1"
    # Without provider metadata Codex keeps its defaults; the governance keys are still written.
    assert invocation.provider_for(CodexSettings(), None) is None
    bare = tomllib.loads(invocation.config_toml("qwen3-max", None))
    assert "model_providers" not in bare and bare["analytics"] == {"enabled": False}


def test_argv_is_governed_and_the_prompt_comes_last(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    repo = tmp_path / "task" / "repo"
    argv = invocation.argv("/opt/codex", "workspace-write", repo, p, "-fix the bug")
    assert argv[:2] == ["/opt/codex", "exec"]
    for flag in ("--json", "--skip-git-repo-check", "--ephemeral"):
        assert flag in argv
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert argv[argv.index("-C") + 1] == str(repo)
    assert argv[argv.index("-o") + 1] == str(p.last_message)
    assert argv[argv.index("-c") + 1] == "allow_login_shell=false"
    assert argv[-2:] == ["--", "-fix the bug"]
    assert "use_legacy_landlock" not in " ".join(argv)
    with pytest.raises(CodexConfigError):
        invocation.argv("/opt/codex", "workspace-write", repo, p, "x" * 200_000)


def test_scrubbed_env_forwards_no_provider_variable(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    env = invocation.environment(CodexSettings(), p, source_env=SOURCE_ENV)
    assert env["HOME"] == str(p.home)
    assert env["CODEX_HOME"] == str(p.codex_home)
    assert env["TMPDIR"] == str(p.tmpdir)
    assert not [k for k in env if is_secret_name(k)]
    assert not set(SOURCE_ENV.values()) - {"/usr/bin:/bin"} & set(env.values())


def test_env_mode_forwards_exactly_the_allowlist(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    settings_ = CodexSettings(auth_mode="env", env_allowlist=["OPENAI_API_KEY", "NOT_SET_HERE"])
    env = invocation.environment(settings_, p, source_env=SOURCE_ENV)
    assert [k for k in env if is_secret_name(k)] == ["OPENAI_API_KEY"]
    assert env["OPENAI_API_KEY"] == "sk-vendor"
    assert "NOT_SET_HERE" not in env
    assert "sk-other" not in env.values() and "internal" not in env.values()


def test_relay_env_holds_only_the_task_token(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    env = invocation.environment(
        CodexSettings(auth_mode="relay"), p, token="hvt.abc.def", source_env=SOURCE_ENV
    )
    assert [k for k in env if is_secret_name(k)] == [RELAY_TOKEN_ENV]
    assert env[RELAY_TOKEN_ENV] == "hvt.abc.def"
    with pytest.raises(CodexConfigError):
        invocation.environment(CodexSettings(auth_mode="relay"), p, token=None)


def test_resume_prompt_carries_the_checkpoint_progress() -> None:
    payload = {
        "progress": {
            "files_changed": ["a.txt", "notes/b.md"],
            "commands": [{"command": "/bin/bash -c 'make test'", "exit_code": 2}],
            "last_message": "Half way there.",
        }
    }
    text = invocation.prompt("Fix the build.", payload)
    assert text.startswith("Fix the build.\n")
    assert "a.txt, notes/b.md" in text
    assert "`/bin/bash -c 'make test'` (exit code 2)" in text
    assert "Half way there." in text
    assert invocation.prompt("Fix the build.", None) == "Fix the build."
    other = invocation.prompt("Go.", {"step_index": 3})
    assert '"step_index": 3' in other


@settings(deadline=None, max_examples=200)
@given(st.text())
def test_toml_strings_round_trip(value: str) -> None:
    assert tomllib.loads(f"v = {invocation.toml_string(value)}")["v"] == value
