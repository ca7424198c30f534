"""The agents feature as the app holds it (`app.state.agents`): wired once the database is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from hive.gateway.agents.service import AgentService
from hive.gateway.errors import Unavailable
from hive.gateway.pools.settings import AgentPoolSettings


@dataclass(slots=True)
class AgentsFeature:
    """The pool's settings, and the agent service once wired."""

    settings: AgentPoolSettings
    service: AgentService | None = None
    failure: str | None = None
    """Why the agents feature could not start (answered with every 503)."""

    def require(self) -> AgentService:
        """The service, or 503 while the gateway is still starting."""
        if self.service is None:
            raise Unavailable(self.failure or "agents are starting")
        return self.service


def agents_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AgentService:
    """The wired agent service."""
    feature: AgentsFeature = connection.app.state.agents
    return feature.require()
