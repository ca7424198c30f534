"""Composition root of the agent runtime: settings -> bootstrap -> HiveAgent -> routes.

One runtime instance per process (`hive serve agent`, port 8090). Without
`HIVE_AGENT_CONFIG_JSON` it serves `/healthz` only. With it, `/run`,
`/resume-run` and `/flush-memory` drive one `HiveAgent` whose runs are
streams appended through the gateway; those routes need the controller's
credential (the agent token, or `HIVE_INTERNAL_SECRET` where the deployment
provides one) as `X-Internal-Secret` or Bearer.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from hive.agent.bootstrap import bootstrap
from hive.agent.errors import NotReady, Unauthorized
from hive.agent.gateway_host import GatewayAgentHost
from hive.agent.settings import AgentSettings, AgentSettingsError
from hive.agentruntime import HiveAgent
from hive.agentruntime.memory import flush_agent
from hive.contracts.agents import (
    FlushMemoryRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunRequest,
    RunResult,
)
from hive.contracts.api import AgentHealth
from hive.contracts.hardening import make_non_dumpable, take_secrets
from hive.contracts.logs import Redactor, configure_logging, secret_values
from hive.contracts.problems import ProblemDetails
from hive.contracts.serving import served_app
from hive.contracts.settings import refuse_to_start

log = logging.getLogger("hive.agent")


class AgentApp:
    """Process state: settings, and the HiveAgent once configured."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.agent: HiveAgent | None = None
        self.host: GatewayAgentHost | None = None
        self.reason: str | None = (
            None if settings.config is not None else "HIVE_AGENT_CONFIG_JSON not set"
        )


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> AgentApp:
    app: AgentApp = connection.app.state.agent_app
    return app


def controller(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the controller's credential as X-Internal-Secret or Bearer."""
    settings = _state(connection).settings
    given = connection.headers.get("x-internal-secret")
    if given is None:
        auth = connection.headers.get("authorization", "")
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    accepted = [s for s in (settings.agent_token, settings.internal_secret) if s]
    if given is None or not any(hmac.compare_digest(given.encode(), s.encode()) for s in accepted):
        raise Unauthorized("controller credential required")


def _agent(request: Request[Any, Any, Any]) -> HiveAgent:
    app = _state(request)
    if app.agent is None:
        raise NotReady(app.reason or "the agent runtime is not ready")
    return app.agent


@get("/healthz", sync_to_thread=False)
def healthz(request: Request[Any, Any, Any]) -> AgentHealth:
    """Cheap, no runtime work."""
    app = _state(request)
    s = app.settings
    return AgentHealth(
        status="ok",
        workspace=s.workspace,
        runtime_ready=app.agent is not None,
        agent_id=s.config.agent_id if s.config else None,
        project_id=s.config.project_id if s.config else None,
        controller_id=s.controller_id,
        deployment_backend=s.deployment_backend,
        readiness_reason=app.reason,
    )


@post("/run", guards=[controller], status_code=200)
async def run(request: Request[Any, Any, Any], data: RunRequest) -> RunResult:
    """Start a run (idempotent by run_id); waits up to wait_s for it to stop."""
    return await _agent(request).run(data.input, data.run_id, data.wait_s, data.schedule_id)


@post("/resume-run", guards=[controller], status_code=200)
async def resume_run(request: Request[Any, Any, Any], data: ResumeRunRequest) -> RunResult:
    """Continue a run from its stream."""
    return await _agent(request).resume(data.run_id, data.input, data.wait_s)


@get("/runs/{run_id:str}", guards=[controller])
async def get_run(request: Request[Any, Any, Any], run_id: str) -> RunResult:
    """A run's state (from its stream)."""
    return await _agent(request).status(run_id)


@post("/flush-memory", guards=[controller], status_code=200)
async def flush_memory(
    request: Request[Any, Any, Any], data: FlushMemoryRequest
) -> FlushMemoryResult:
    """Write the runs' notes to memory/<day>.md in the workspace."""
    workspace = Path(_state(request).settings.workspace)
    return await flush_agent(_agent(request), workspace, data.run_ids)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Bootstrap the workspace and build the HiveAgent when configured."""
    state: AgentApp = app.state.agent_app
    s = state.settings
    try:
        copied = bootstrap(Path(s.workspace))
        if copied:
            log.info("bootstrap copied %d default file(s) into %s", len(copied), s.workspace)
    except OSError as exc:
        state.reason = f"bootstrap into {s.workspace} failed: {exc.strerror}"
    if s.config is not None and state.reason is None:
        if s.agent_token is None:
            state.reason = "HIVE_AGENT_TOKEN not set"
        else:
            state.host = GatewayAgentHost(s.gateway_url, s.config.agent_id, s.agent_token)
            state.agent = HiveAgent(s.config, state.host)
    try:
        yield
    finally:
        if state.agent is not None:
            await state.agent.close()
        if state.host is not None:
            await state.host.aclose()


def create_app(settings: AgentSettings | None = None) -> Litestar:
    """Build the agent app (reads the environment once when no settings are given)."""
    if settings is None:
        try:
            settings = AgentSettings.from_env()
        except AgentSettingsError as exc:
            refuse_to_start("agent", exc)
        # JSON lines on stdout without the agent's token or secret (as every service logs);
        # an app built with given settings (tests) leaves its host's logging alone.
        configure_logging(Redactor(secret_values(settings.agent_token, settings.internal_secret)))
        make_non_dumpable()
        take_secrets(AgentSettings.secret_env_names())
    return Litestar(
        route_handlers=[healthz, run, resume_run, get_run, flush_memory],
        # The runtime's refusals are HiveErrors: mapped by their code like every other.
        plugins=[ProblemDetails()],
        lifespan=[lifespan],
        state=State({"agent_app": AgentApp(settings)}),
        # Our handler (configure_logging) only: Litestar's default one would log unredacted.
        logging_config=None,
    )


# `app` (granian's target) is built on first access, once: see hive.contracts.serving.
__getattr__ = served_app(create_app)
