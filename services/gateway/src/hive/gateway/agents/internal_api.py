"""The internal agent API: what an agent runtime reaches with its agent token.

`/internal/agent-runs/{run_id}/events` (read, append) and
`/internal/agents/{agent_id}/dev-tasks[...]` (its tools), `/internal/agents/{agent_id}/token`
(renewal). The token's
`agent_id` is the only agent it acts for: another agent's run or tasks are 404,
an operator's decision event is 403.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from hive.agentruntime import StaleAppend
from hive.contracts.agents import (
    AgentConfig,
    AgentDevTaskCreate,
    Appended,
    AppendEvents,
    RecordedAgentEvent,
)
from hive.contracts.api import TaskTokenIssued, TaskTokenRequest
from hive.contracts.errors import ErrorCode
from hive.contracts.events import Event, WorkRunEvent
from hive.contracts.tokens import SCOPE_AGENT, TaskTokenClaims, TokenError
from hive.gateway.agents.dev_tasks import AgentDevTasks
from hive.gateway.agents.feature import AgentsFeature, agents_of
from hive.gateway.errors import Conflict, Invalid, NotFound, Unauthorized
from hive.gateway.platform.identifiers import check_id
from hive.gateway.platform.openapi_problems import problems
from hive.gateway.runtime import runtime_of


async def agent_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a live agent token (`agent:runtime`) of a live agent."""
    auth = connection.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        raise Unauthorized("Authorization: Bearer <agent token>")
    # A refused token raises TokenError: its code (token_scope 403, the others 401) answers.
    claims = await runtime_of(connection).require().tokens.check(auth[7:].strip(), SCOPE_AGENT)
    if claims.agent_id is None:
        raise TokenError(ErrorCode.TOKEN_SCOPE, "not an agent token")
    connection.state.agent_claims = claims


def _claims(request: Request[Any, Any, Any]) -> TaskTokenClaims:
    return cast(TaskTokenClaims, request.state.agent_claims)


async def _agent(request: Request[Any, Any, Any], agent_id: str | None = None) -> AgentConfig:
    claims = _claims(request)
    if agent_id is not None and agent_id != claims.agent_id:
        raise NotFound("agent not found")
    assert claims.agent_id is not None
    return (await agents_of(request).require(claims.agent_id)).config


def _tools(request: Request[Any, Any, Any]) -> AgentDevTasks:
    services = runtime_of(request).require()
    return AgentDevTasks(services.dev_tasks, services.projects)


class AgentInternalController(Controller):
    """Agent-token routes."""

    path = "/internal"
    guards = [agent_token]
    tags = ["internal"]
    security = [{"taskToken": []}]

    @get("/agent-runs/{run_id:str}/events", responses=problems(401, 403, 404))
    async def read_events(
        self, request: Request[Any, Any, Any], run_id: str
    ) -> list[RecordedAgentEvent]:
        """The run's events (empty for a run not started yet)."""
        agent = await _agent(request)
        service = agents_of(request)
        row = await service.registry.run(check_id(run_id, "run"))
        if row is None:
            return []
        if row.agent_id != agent.agent_id:
            raise NotFound("run not found")
        events = await service.journal.read(run_id)
        return [
            RecordedAgentEvent(stream_version=i + 1, event=msgspec.to_builtins(e))
            for i, e in enumerate(events)
        ]

    @post(
        "/agent-runs/{run_id:str}/events",
        status_code=201,
        responses=problems(401, 403, 404, 409, 422),
    )
    async def append_events(
        self, request: Request[Any, Any, Any], run_id: str, data: AppendEvents
    ) -> Appended:
        """Append at `expected_version` (409 version_conflict when the stream moved)."""
        agent = await _agent(request)
        try:
            events = [cast(Event, msgspec.convert(e, WorkRunEvent)) for e in data.events]
        except msgspec.ValidationError as exc:
            raise Invalid(f"events: {exc}") from exc
        try:
            version = await agents_of(request).journal.append(
                check_id(run_id, "run"), agent.agent_id, events, data.expected_version
            )
        except StaleAppend as exc:
            raise Conflict(str(exc), code=ErrorCode.VERSION_CONFLICT) from exc
        return Appended(stream_version=version)

    @post("/agents/{agent_id:str}/token", status_code=201, responses=problems(401, 403, 404))
    async def renew_token(self, request: Request[Any, Any, Any], agent_id: str) -> TaskTokenIssued:
        """A fresh agent token (same agent, same scopes) for a runtime whose token nears expiry."""
        agent = await _agent(request, agent_id)
        claims = _claims(request)
        feature: AgentsFeature = request.app.state.agents
        services = runtime_of(request).require()
        ttl = min(feature.settings.token_ttl_s, services.tokens.max_ttl_s)
        return services.tokens.issue(
            TaskTokenRequest(scopes=list(claims.scopes), agent_id=agent.agent_id, ttl_s=ttl)
        )

    @post(
        "/agents/{agent_id:str}/dev-tasks", status_code=201, responses=problems(401, 403, 404, 422)
    )
    async def create_dev_task(
        self, request: Request[Any, Any, Any], agent_id: str, data: AgentDevTaskCreate
    ) -> dict[str, Any]:
        """create_dev_task: a Work Run in the agent's project, one per idempotency key."""
        agent = await _agent(request, agent_id)
        return await _tools(request).create(agent, data)

    @get("/agents/{agent_id:str}/dev-tasks", responses=problems(401, 403, 404))
    async def list_dev_tasks(
        self,
        request: Request[Any, Any, Any],
        agent_id: str,
        task_state: Annotated[str | None, Parameter(query="state")] = None,
    ) -> list[dict[str, Any]]:
        """list_dev_tasks (`?state=` filters)."""
        agent = await _agent(request, agent_id)
        return await _tools(request).list(agent, task_state)

    @get("/agents/{agent_id:str}/dev-tasks/{task_id:str}", responses=problems(401, 403, 404))
    async def get_dev_task(
        self, request: Request[Any, Any, Any], agent_id: str, task_id: str
    ) -> dict[str, Any]:
        """get_dev_task."""
        agent = await _agent(request, agent_id)
        return await _tools(request).get(agent, task_id)
