"""Agent runtime settings: read once from the environment the pool gave it."""

from __future__ import annotations

import os

import msgspec

from hive.contracts.agents import AgentConfig


class AgentSettingsError(ValueError):
    """A setting is missing or invalid (names the variable)."""


class AgentSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything `hive.agent.main:app` reads from its environment."""

    workspace: str
    """HIVE_WORKSPACE: the writable config/data volume (baseline /data/config)."""
    config: AgentConfig | None = None
    """HIVE_AGENT_CONFIG_JSON: without it the app serves /healthz only."""
    gateway_url: str = "http://127.0.0.1:8080"
    """HIVE_GATEWAY_URL: the relay and the internal agent API."""
    agent_token: str | None = None
    """HIVE_AGENT_TOKEN: this agent's short-lived token (relay + its own runs); also what the
    controller presents on /run, /resume-run and /flush-memory."""
    internal_secret: str | None = None
    """HIVE_INTERNAL_SECRET: accepted from a controller where the deployment provides it
    (the local_subprocess pool never does)."""
    controller_id: str | None = None
    """HIVE_CONTROLLER_ID: the pool (gateway) that owns this runtime."""
    deployment_backend: str | None = None
    """HIVE_DEPLOYMENT_BACKEND: local_subprocess, kubernetes, ..."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AgentSettings:
        """Read and validate."""
        e = dict(os.environ if env is None else env)
        raw = e.get("HIVE_AGENT_CONFIG_JSON") or None
        config = None
        if raw is not None:
            try:
                config = msgspec.json.decode(raw, type=AgentConfig)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise AgentSettingsError(f"HIVE_AGENT_CONFIG_JSON is invalid: {exc}") from exc
        return cls(
            workspace=e.get("HIVE_WORKSPACE") or "/data/config",
            config=config,
            gateway_url=(e.get("HIVE_GATEWAY_URL") or "http://127.0.0.1:8080").rstrip("/"),
            agent_token=e.get("HIVE_AGENT_TOKEN") or None,
            internal_secret=e.get("HIVE_INTERNAL_SECRET") or None,
            controller_id=e.get("HIVE_CONTROLLER_ID") or None,
            deployment_backend=e.get("HIVE_DEPLOYMENT_BACKEND") or None,
        )

    @staticmethod
    def secret_env_names() -> list[str]:
        """Variables taken out of the environment once read."""
        return ["HIVE_AGENT_TOKEN", "HIVE_INTERNAL_SECRET"]
