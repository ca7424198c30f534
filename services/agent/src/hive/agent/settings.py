"""Agent runtime settings: read once from the environment the pool gave it."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from hive.contracts.agents import AgentConfig
from hive.contracts.settings import Environment, SettingsError


class AgentSettingsError(SettingsError):
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
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentSettings:
        """Read and validate; AgentSettingsError names a bad variable."""
        e = Environment(env)
        try:
            config = e.json("HIVE_AGENT_CONFIG_JSON", AgentConfig)
        except SettingsError as exc:
            raise AgentSettingsError(exc.setting, str(exc).removeprefix(exc.setting + " ")) from exc
        return cls(
            workspace=e.text("HIVE_WORKSPACE", "/data/config"),
            config=config,
            gateway_url=e.text("HIVE_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/"),
            agent_token=e.optional_text("HIVE_AGENT_TOKEN"),
            internal_secret=e.optional_text("HIVE_INTERNAL_SECRET"),
            controller_id=e.optional_text("HIVE_CONTROLLER_ID"),
            deployment_backend=e.optional_text("HIVE_DEPLOYMENT_BACKEND"),
        )

    @staticmethod
    def secret_env_names() -> list[str]:
        """Variables taken out of the environment once read."""
        return ["HIVE_AGENT_TOKEN", "HIVE_INTERNAL_SECRET"]
