"""HIVE_SANDBOX_CODEX_*: how the sandbox runs the Codex CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

import msgspec

from hive.contracts.settings import Environment, SettingsError

AuthMode = Literal["scrubbed", "env", "relay"]
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]

DEFAULT_MODEL: Final = "qwen3-max"
DEFAULT_RELAY_PROVIDER_ID: Final = "openhive-relay"


class CodexSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Codex backend settings (part of SandboxSettings)."""

    bin: str | None = None
    """HIVE_SANDBOX_CODEX_BIN; None means the project's pinned CLI."""
    auth_mode: AuthMode = "scrubbed"
    """HIVE_SANDBOX_CODEX_AUTH_MODE: `scrubbed` (no provider keys), `env` (allowlist), `relay`."""
    env_allowlist: list[str] = []
    """HIVE_SANDBOX_CODEX_ENV_ALLOWLIST: variable names forwarded in `env` mode, nothing else."""
    model: str = DEFAULT_MODEL
    """HIVE_SANDBOX_CODEX_MODEL."""
    sandbox_mode: SandboxMode = "workspace-write"
    """HIVE_SANDBOX_CODEX_SANDBOX_MODE (`danger-full-access` where the pod is the boundary)."""
    provider_id: str | None = None
    """HIVE_SANDBOX_CODEX_PROVIDER_ID: the `[model_providers.<id>]` Codex uses."""
    provider_base_url: str | None = None
    """HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL: OpenAI-compatible base URL (Codex POSTs {url}/responses)."""
    provider_env_key: str | None = None
    """HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY: in `env` mode, the allowlisted variable sent as the Bearer key."""
    timeout_s: float | None = None
    """HIVE_SANDBOX_CODEX_TIMEOUT_S: attempt timeout; None means the sandbox's default timeout."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CodexSettings:
        """Read and validate; SettingsError (a ValueError) names the bad variable."""
        e = Environment(env)
        provider_id = e.optional_text("HIVE_SANDBOX_CODEX_PROVIDER_ID")
        if provider_id is not None:
            try:
                check_provider_id(provider_id)
            except ValueError as exc:
                raise SettingsError("HIVE_SANDBOX_CODEX_PROVIDER_ID", str(exc)) from None
        env_key = e.optional_text("HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY")
        allowlist = e.csv("HIVE_SANDBOX_CODEX_ENV_ALLOWLIST")
        if env_key is not None and env_key not in allowlist:
            raise SettingsError(
                "HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY",
                "must be one of HIVE_SANDBOX_CODEX_ENV_ALLOWLIST",
            )
        return cls(
            bin=e.optional_text("HIVE_SANDBOX_CODEX_BIN"),
            auth_mode=e.choice("HIVE_SANDBOX_CODEX_AUTH_MODE", get_args(AuthMode), "scrubbed"),
            env_allowlist=allowlist,
            model=e.text("HIVE_SANDBOX_CODEX_MODEL", DEFAULT_MODEL),
            sandbox_mode=e.choice(
                "HIVE_SANDBOX_CODEX_SANDBOX_MODE", get_args(SandboxMode), "workspace-write"
            ),
            provider_id=provider_id,
            provider_base_url=e.optional_text("HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL"),
            provider_env_key=env_key,
            timeout_s=e.optional_number("HIVE_SANDBOX_CODEX_TIMEOUT_S", above=0),
        )


def check_provider_id(value: str) -> str:
    """A provider id becomes a TOML table key: letters, digits, `_` and `-` only."""
    if not value or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise ValueError(f"codex provider id must be [A-Za-z0-9_-]+, got {value!r}")
    return value
