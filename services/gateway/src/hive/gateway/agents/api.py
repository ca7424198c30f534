"""`/api/agents`: managed agents through the configured pool (operator session)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import Parameter

from hive.contracts.agents import (
    AgentCreate,
    AgentView,
    DecisionRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunRequest,
    RunResult,
)
from hive.contracts.api import StoredEvent
from hive.gateway.agents.feature import agents_of
from hive.gateway.dev_tasks.controller import MAX_BIGINT
from hive.gateway.operators.guards import current_operator
from hive.gateway.platform.identifiers import check_id
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems

RUN_PROBLEMS = problems(*SESSION_PROBLEMS, 404, 409, 503)


class AgentsController(Controller):
    """Agents, their runs, decisions and memory."""

    path = "/api/agents"
    tags = ["agents"]

    @post("/", status_code=201, responses=problems(*SESSION_PROBLEMS, 404, 409))
    async def create_agent(self, request: Request[Any, Any, Any], data: AgentCreate) -> AgentView:
        """Register an agent in a project and start its runtime in the pool."""
        return await agents_of(request).create(data)

    @get("/", responses=problems(*SESSION_PROBLEMS))
    async def list_agents(self, request: Request[Any, Any, Any]) -> list[AgentView]:
        """Every live agent with its last polled health (`silent` past the threshold)."""
        return await agents_of(request).list_agents()

    @get("/{agent_id:str}", responses=problems(*SESSION_PROBLEMS, 404))
    async def get_agent(self, request: Request[Any, Any, Any], agent_id: str) -> AgentView:
        """One agent with its runtime's health fields."""
        return await agents_of(request).get(check_id(agent_id, "agent"))

    @delete("/{agent_id:str}", status_code=204, responses=problems(*SESSION_PROBLEMS, 404))
    async def delete_agent(self, request: Request[Any, Any, Any], agent_id: str) -> None:
        """Stop the runtime, revoke its tokens; its runs stay readable."""
        await agents_of(request).delete(check_id(agent_id, "agent"))

    @post("/{agent_id:str}/run", status_code=200, responses=RUN_PROBLEMS)
    async def run(
        self, request: Request[Any, Any, Any], agent_id: str, data: RunRequest
    ) -> RunResult:
        """What the runtime's /run does: start a run (idempotent by run_id); 409 agent_busy."""
        return await agents_of(request).run(check_id(agent_id, "agent"), data)

    @post("/{agent_id:str}/runs", status_code=200, responses=RUN_PROBLEMS)
    async def start_run(
        self, request: Request[Any, Any, Any], agent_id: str, data: RunRequest
    ) -> RunResult:
        """Same as POST .../run."""
        return await agents_of(request).run(check_id(agent_id, "agent"), data)

    @get("/{agent_id:str}/runs", responses=problems(*SESSION_PROBLEMS, 404))
    async def list_runs(
        self, request: Request[Any, Any, Any], agent_id: str, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The agent's runs, newest first."""
        return await agents_of(request).list_runs(check_id(agent_id, "agent"), status)

    @get("/{agent_id:str}/runs/{run_id:str}", responses=problems(*SESSION_PROBLEMS, 404))
    async def get_run(
        self, request: Request[Any, Any, Any], agent_id: str, run_id: str
    ) -> RunResult:
        """A run folded from its stream (status, output, the open request if any)."""
        return await agents_of(request).get_run(
            check_id(agent_id, "agent"), check_id(run_id, "run")
        )

    @get("/{agent_id:str}/runs/{run_id:str}/events", responses=problems(*SESSION_PROBLEMS, 404))
    async def run_events(
        self,
        request: Request[Any, Any, Any],
        agent_id: str,
        run_id: str,
        after: int = Parameter(default=0, ge=0, le=MAX_BIGINT),
        limit: int = Parameter(default=1000, ge=1, le=10_000),
    ) -> list[StoredEvent]:
        """The run's event stream after version `after` (model calls, tools, approvals)."""
        return await agents_of(request).run_events(
            check_id(agent_id, "agent"), check_id(run_id, "run"), after=after, limit=limit
        )

    @post("/{agent_id:str}/runs/{run_id:str}/resume", status_code=200, responses=RUN_PROBLEMS)
    async def resume_run(
        self,
        request: Request[Any, Any, Any],
        agent_id: str,
        run_id: str,
        data: ResumeRunRequest | None = None,
    ) -> RunResult:
        """Continue a run (optionally with more input)."""
        body = data or ResumeRunRequest(run_id=run_id)
        return await agents_of(request).resume(
            check_id(agent_id, "agent"), check_id(run_id, "run"), body
        )

    @post("/{agent_id:str}/runs/{run_id:str}/approve", status_code=200, responses=RUN_PROBLEMS)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        agent_id: str,
        run_id: str,
        data: DecisionRequest | None = None,
    ) -> RunResult:
        """Approve the open request (a budget request: grant `grant`, default one budget more)."""
        return await agents_of(request).decide(
            check_id(agent_id, "agent"),
            check_id(run_id, "run"),
            data or DecisionRequest(),
            approved=True,
            operator=current_operator(request).username,
        )

    @post("/{agent_id:str}/runs/{run_id:str}/decline", status_code=200, responses=RUN_PROBLEMS)
    async def decline(
        self,
        request: Request[Any, Any, Any],
        agent_id: str,
        run_id: str,
        data: DecisionRequest | None = None,
    ) -> RunResult:
        """Decline the open request (a tool call: the model hears it was declined)."""
        return await agents_of(request).decide(
            check_id(agent_id, "agent"),
            check_id(run_id, "run"),
            data or DecisionRequest(),
            approved=False,
            operator=current_operator(request).username,
        )

    @post("/{agent_id:str}/flush-memory", status_code=200, responses=RUN_PROBLEMS)
    async def flush_memory(
        self, request: Request[Any, Any, Any], agent_id: str
    ) -> FlushMemoryResult:
        """Write the agent's notes to memory/<day>.md in its workspace (422 memory_limit)."""
        return await agents_of(request).flush_memory(check_id(agent_id, "agent"))
