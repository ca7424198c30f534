"""HIVE_SANDBOX_CODEX_*: how the sandbox runs the Codex CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

import msgspec

AuthMode = Literal["scrubbed", "env", "relay"]
SandboxMode = Literal["read-only", "workspace-write", "danger-full-access"]

DEFAULT_MODEL: Final = "qwen3-max"
DEFAULT_RELAY_PROVIDER_ID: Final = "openhive-relay"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


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
        """Read and validate; raise ValueError naming the bad variable."""
        auth = env.get("HIVE_SANDBOX_CODEX_AUTH_MODE", "scrubbed") or "scrubbed"
        if auth not in get_args(AuthMode):
            raise ValueError(
                f"HIVE_SANDBOX_CODEX_AUTH_MODE must be one of {', '.join(get_args(AuthMode))}, got {auth!r}"
            )
        mode = env.get("HIVE_SANDBOX_CODEX_SANDBOX_MODE", "workspace-write") or "workspace-write"
        if mode not in get_args(SandboxMode):
            raise ValueError(
                f"HIVE_SANDBOX_CODEX_SANDBOX_MODE must be one of {', '.join(get_args(SandboxMode))}, got {mode!r}"
            )
        timeout_raw = env.get("HIVE_SANDBOX_CODEX_TIMEOUT_S") or None
        try:
            timeout = float(timeout_raw) if timeout_raw else None
        except ValueError as exc:
            raise ValueError(
                f"HIVE_SANDBOX_CODEX_TIMEOUT_S must be a number, got {timeout_raw!r}"
            ) from exc
        provider_id = env.get("HIVE_SANDBOX_CODEX_PROVIDER_ID") or None
        if provider_id is not None:
            check_provider_id(provider_id)
        env_key = env.get("HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY") or None
        allowlist = _csv(env.get("HIVE_SANDBOX_CODEX_ENV_ALLOWLIST", ""))
        if env_key is not None and env_key not in allowlist:
            raise ValueError(
                "HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY must be one of HIVE_SANDBOX_CODEX_ENV_ALLOWLIST"
            )
        return cls(
            bin=env.get("HIVE_SANDBOX_CODEX_BIN") or None,
            auth_mode=auth,  # type: ignore[arg-type]
            env_allowlist=allowlist,
            model=env.get("HIVE_SANDBOX_CODEX_MODEL") or DEFAULT_MODEL,
            sandbox_mode=mode,  # type: ignore[arg-type]
            provider_id=provider_id,
            provider_base_url=(env.get("HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL") or None),
            provider_env_key=env_key,
            timeout_s=timeout,
        )


def check_provider_id(value: str) -> str:
    """A provider id becomes a TOML table key: letters, digits, `_` and `-` only."""
    if not value or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        raise ValueError(f"codex provider id must be [A-Za-z0-9_-]+, got {value!r}")
    return value
