"""HIVE_SANDBOX_CODEX_* parsing: defaults, and refusals that name the variable."""

from __future__ import annotations

import pytest

from hive.sandbox.codex.settings import CodexSettings
from hive.sandbox.settings import SandboxSettings


def test_defaults_match_the_spec() -> None:
    codex = SandboxSettings.from_env({"HIVE_INTERNAL_SECRET": "s"}).codex
    assert codex.auth_mode == "scrubbed"
    assert codex.model == "qwen3-max"
    assert codex.sandbox_mode == "workspace-write"
    assert codex.env_allowlist == [] and codex.bin is None


def test_every_setting_is_read() -> None:
    codex = CodexSettings.from_env(
        {
            "HIVE_SANDBOX_CODEX_BIN": "/opt/codex",
            "HIVE_SANDBOX_CODEX_AUTH_MODE": "env",
            "HIVE_SANDBOX_CODEX_ENV_ALLOWLIST": " OPENAI_API_KEY , DASHSCOPE_API_KEY ,",
            "HIVE_SANDBOX_CODEX_MODEL": "gpt-5.5",
            "HIVE_SANDBOX_CODEX_SANDBOX_MODE": "danger-full-access",
            "HIVE_SANDBOX_CODEX_PROVIDER_ID": "dash-scope_1",
            "HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL": "https://llm.example/v1",
            "HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY": "DASHSCOPE_API_KEY",
            "HIVE_SANDBOX_CODEX_TIMEOUT_S": "90",
        }
    )
    assert codex == CodexSettings(
        bin="/opt/codex",
        auth_mode="env",
        env_allowlist=["OPENAI_API_KEY", "DASHSCOPE_API_KEY"],
        model="gpt-5.5",
        sandbox_mode="danger-full-access",
        provider_id="dash-scope_1",
        provider_base_url="https://llm.example/v1",
        provider_env_key="DASHSCOPE_API_KEY",
        timeout_s=90.0,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HIVE_SANDBOX_CODEX_AUTH_MODE": "vendor"}, "HIVE_SANDBOX_CODEX_AUTH_MODE"),
        ({"HIVE_SANDBOX_CODEX_SANDBOX_MODE": "none"}, "HIVE_SANDBOX_CODEX_SANDBOX_MODE"),
        ({"HIVE_SANDBOX_CODEX_TIMEOUT_S": "soon"}, "HIVE_SANDBOX_CODEX_TIMEOUT_S"),
        ({"HIVE_SANDBOX_CODEX_PROVIDER_ID": "a.b]"}, "provider id"),
        (
            {"HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY": "OPENAI_API_KEY"},
            "HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY",
        ),
    ],
)
def test_bad_values_are_refused_at_startup(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SandboxSettings.from_env({"HIVE_INTERNAL_SECRET": "s", **env})
