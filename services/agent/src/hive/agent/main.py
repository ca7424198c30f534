"""Composition root of the agent runtime (skeleton: health only so far).

One runtime instance per container. `/run`, `/resume-run` and `/flush-memory`
arrive with the agent-pool work; `/healthz` already answers the spec's fields.
"""

from __future__ import annotations

import os

from litestar import Litestar, get

from hive.contracts.api import AgentHealth
from hive.contracts.http import EXCEPTION_HANDLERS


@get("/healthz", sync_to_thread=False)
def healthz() -> AgentHealth:
    """Cheap, no runtime work."""
    configured = bool(os.environ.get("HIVE_AGENT_CONFIG_JSON"))
    return AgentHealth(
        status="ok",
        workspace=os.environ.get("HIVE_WORKSPACE", "/data/config"),
        runtime_ready=False,
        agent_id=os.environ.get("HIVE_AGENT_ID"),
        project_id=os.environ.get("HIVE_PROJECT_ID"),
        controller_id=os.environ.get("HIVE_CONTROLLER_ID"),
        deployment_backend=os.environ.get("HIVE_DEPLOYMENT_BACKEND"),
        readiness_reason="runtime not implemented yet"
        if configured
        else "HIVE_AGENT_CONFIG_JSON not set",
    )


def create_app() -> Litestar:
    """Build the agent app."""
    return Litestar(route_handlers=[healthz], exception_handlers=EXCEPTION_HANDLERS)


def __getattr__(name: str) -> Litestar:
    if name == "app":
        return create_app()
    raise AttributeError(name)
