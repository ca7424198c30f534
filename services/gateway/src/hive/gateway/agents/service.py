"""The agent service behind `/api/agents`: registry + pool + journal, the same over every pool.

Operator decisions are appended here (never by an agent: the journal refuses
an AgentApprovalDecided from an agent token), then the runtime is asked to
resume. A runtime's health is polled in the background; an agent whose health
has failed for longer than `silent_after_s` is shown `silent`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hive.agentruntime import StaleAppend, fold
from hive.contracts.agents import (
    TOOL_NAMES,
    AgentConfig,
    AgentCreate,
    AgentView,
    DecisionRequest,
    FlushMemoryRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunBudget,
    RunRequest,
    RunResult,
)
from hive.contracts.api import StoredEvent
from hive.contracts.errors import ErrorCode
from hive.contracts.events import AgentApprovalDecided, AgentRunFinished, Event
from hive.contracts.problems import HiveError
from hive.gateway.agents.journal import AgentRunJournal
from hive.gateway.agents.registry import (
    AgentRecord,
    AgentRegistry,
    DuplicateAgent,
    UnusableAgentId,
    check_agent_id,
    new_agent_id,
)
from hive.gateway.errors import Conflict, Invalid, NotFound, Unavailable
from hive.gateway.pools.base import AgentPool, AgentRuntimeHandle
from hive.gateway.projects.repository import ProjectRepository
from hive.gateway.tokens.service import TaskTokenService

log = logging.getLogger("hive.gateway.agents")


@dataclass
class _Health:
    doc: dict[str, Any] | None = None
    last_ok: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class AgentService:
    """Create, list, run and decide for managed agents."""

    def __init__(
        self,
        registry: AgentRegistry,
        journal: AgentRunJournal,
        pool: AgentPool,
        projects: ProjectRepository,
        tokens: TaskTokenService,
        *,
        silent_after_s: float = 60.0,
    ) -> None:
        self.registry = registry
        self.journal = journal
        self.pool = pool
        self.projects = projects
        self.tokens = tokens
        self.silent_after_s = silent_after_s
        self._health: dict[str, _Health] = {}

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the pool with every registered agent; resume runs left running."""
        agents = await self.registry.live()
        await self.pool.start(agents)
        if self.pool.name == "local":
            for agent in agents:
                await self.resume_running(agent.agent_id)

    async def resume_running(self, agent_id: str) -> None:
        """Ask the runtime to continue every run of this agent the index says is running."""
        handle = self.pool.runtime(agent_id)
        if handle is None:
            return
        for row in await self.registry.runs(agent_id, status="running"):
            try:
                await handle.resume(ResumeRunRequest(run_id=row.run_id, wait_s=0))
                log.info("agent %s: run %s resumed", agent_id, row.run_id)
            except HiveError as exc:
                log.warning("agent %s: run %s not resumed: %s", agent_id, row.run_id, exc)

    async def watch_health(self, interval_s: float = 2.0) -> None:
        """Poll every runtime's /healthz (background task)."""
        while True:
            for agent in await self.registry.live():
                handle = self.pool.runtime(agent.agent_id)
                doc = await handle.health() if handle is not None else None
                entry = self._health.setdefault(agent.agent_id, _Health())
                entry.doc = doc
                if doc is not None and doc.get("runtime_ready"):
                    entry.last_ok = _now()
            await asyncio.sleep(interval_s)

    # -- agents ------------------------------------------------------------------------

    async def create(self, body: AgentCreate) -> AgentView:
        """Register and start an agent."""
        if await self.projects.get(body.project_id) is None:
            raise NotFound(f"project {body.project_id} not found")
        tools = body.tools if body.tools is not None else list(TOOL_NAMES)
        unknown = [t for t in [*tools, *body.policies] if t not in TOOL_NAMES]
        if unknown:
            raise Invalid(f"unknown tool(s) {unknown}; tools are {list(TOOL_NAMES)}")
        try:
            agent_id = check_agent_id(body.agent_id) if body.agent_id else new_agent_id()
        except UnusableAgentId as exc:
            raise Invalid(str(exc)) from exc
        config = AgentConfig(
            agent_id=agent_id,
            project_id=body.project_id,
            role=body.role,
            model=body.model,
            system_prompt=body.system_prompt,
            tools=tools,
            policies=body.policies,
            budget=body.budget or RunBudget(),
            **{
                name: value
                for name, value in (
                    ("memory_max_notes", body.memory_max_notes),
                    ("memory_max_bytes", body.memory_max_bytes),
                )
                if value is not None
            },
        )
        try:
            record = await self.registry.create(config)
        except DuplicateAgent as exc:
            raise Conflict(f"agent {agent_id} exists") from exc
        await self.pool.ensure(record)
        return self.view(record)

    async def require(self, agent_id: str) -> AgentRecord:
        """A live agent, or 404."""
        record = await self.registry.get(agent_id)
        if record is None:
            raise NotFound("agent not found")
        return record

    def view(self, record: AgentRecord) -> AgentView:
        """An agent with its runtime's last health."""
        c = record.config
        health = self._health.get(c.agent_id, _Health())
        since = health.last_ok or record.created_at
        silent = (_now() - since).total_seconds() > self.silent_after_s and not (
            health.doc and health.doc.get("runtime_ready")
        )
        ready = bool(health.doc and health.doc.get("runtime_ready"))
        return AgentView(
            agent_id=c.agent_id,
            project_id=c.project_id,
            role=c.role,
            model=c.model,
            tools=list(c.tools),
            policies=dict(c.policies),
            created_at=record.created_at,
            pool=self.pool.name,
            status="silent" if silent else "ready" if ready else "starting",
            silent=silent,
            health=health.doc,
            last_healthy_at=health.last_ok,
        )

    async def get(self, agent_id: str) -> AgentView:
        """One agent, its health fresh from the runtime."""
        record = await self.require(agent_id)
        handle = self.pool.runtime(agent_id)
        doc = await handle.health() if handle is not None else None
        entry = self._health.setdefault(agent_id, _Health())
        entry.doc = doc
        if doc is not None and doc.get("runtime_ready"):
            entry.last_ok = _now()
        return self.view(record)

    async def list_agents(self) -> list[AgentView]:
        """Every live agent (health as last polled)."""
        return [self.view(r) for r in await self.registry.live()]

    async def delete(self, agent_id: str) -> None:
        """Stop the runtime, revoke its tokens, mark it deleted (its runs stay readable)."""
        await self.require(agent_id)
        await self.pool.remove(agent_id)
        await self.tokens.revoke_subject(task_id=None, agent_id=agent_id, reason="agent deleted")
        await self.registry.delete(agent_id)
        self._health.pop(agent_id, None)

    # -- runs ------------------------------------------------------------------------

    async def _handle(self, agent_id: str) -> AgentRuntimeHandle:
        record = await self.require(agent_id)
        handle = self.pool.runtime(agent_id)
        if handle is None:
            await self.pool.ensure(record)
            handle = self.pool.runtime(agent_id)
        if handle is None:
            raise Unavailable("the agent has no runtime")
        return handle

    async def run(self, agent_id: str, body: RunRequest) -> RunResult:
        """Start a run through the pool."""
        return await (await self._handle(agent_id)).run(body)

    async def get_run(self, agent_id: str, run_id: str) -> RunResult:
        """A run's state, folded from its stream by the gateway itself."""
        await self.require(agent_id)
        row = await self.registry.run(run_id)
        if row is None or row.agent_id != agent_id:
            raise NotFound("run not found")
        return fold(await self.journal.read(run_id)).result()

    async def run_events(
        self, agent_id: str, run_id: str, *, after: int, limit: int
    ) -> list[StoredEvent]:
        """A run's stream (what the dashboard draws as the run's timeline)."""
        await self.require(agent_id)
        row = await self.registry.run(run_id)
        if row is None or row.agent_id != agent_id:
            raise NotFound("run not found")
        return await self.journal.stored(run_id, after=after, limit=limit)

    async def list_runs(self, agent_id: str, status: str | None) -> list[dict[str, Any]]:
        """The agent's runs from the index."""
        await self.require(agent_id)
        return [
            {"run_id": r.run_id, "status": r.status, "stream_version": r.stream_version}
            for r in await self.registry.runs(agent_id, status)
        ]

    async def resume(self, agent_id: str, run_id: str, body: ResumeRunRequest) -> RunResult:
        """Continue a run."""
        await self.get_run(agent_id, run_id)
        return await (await self._handle(agent_id)).resume(
            ResumeRunRequest(run_id=run_id, input=body.input, wait_s=body.wait_s)
        )

    async def decide(
        self, agent_id: str, run_id: str, body: DecisionRequest, *, approved: bool, operator: str
    ) -> RunResult:
        """Approve or decline the run's open request (a budget request: grant), then resume."""
        for _attempt in range(3):
            events = await self.journal.read(run_id)
            state = fold(events)
            if not state.started or state.agent_id != agent_id:
                raise NotFound("run not found")
            request = state.open_request
            if request is None:
                raise Conflict(
                    "the run has no open request", code=ErrorCode.INVALID_STATE_TRANSITION
                )
            if body.request_id is not None and body.request_id != request.request_id:
                raise Conflict(f"the open request is {request.request_id}")
            grant: dict[str, float] = {}
            if request.reason == "budget" and approved:
                g = body.grant or RunBudget()
                grant = {"model_calls": g.model_calls, "tokens": g.tokens, "wall_s": g.wall_s}
            batch: list[Event] = [
                AgentApprovalDecided(
                    request_id=request.request_id,
                    approved=approved,
                    decided_by=operator,
                    grant=grant,
                    comment=body.comment,
                    recorded_at=_now(),
                )
            ]
            if request.reason == "budget" and not approved:
                batch.append(
                    AgentRunFinished(
                        status="cancelled",
                        error="budget exhausted; the operator declined more",
                        recorded_at=_now(),
                    )
                )
            try:
                await self.journal.append(run_id, agent_id, batch, state.version, operator=True)
                break
            except StaleAppend:
                continue
        else:
            raise Conflict("the run keeps moving; retry", code=ErrorCode.VERSION_CONFLICT)
        if request.reason == "budget" and not approved:
            return await self.get_run(agent_id, run_id)
        return await self.resume(agent_id, run_id, ResumeRunRequest(run_id=run_id))

    async def flush_memory(self, agent_id: str) -> FlushMemoryResult:
        """Write the agent's memory (notes of all its runs) into its workspace."""
        handle = await self._handle(agent_id)
        runs = [r.run_id for r in await self.registry.runs(agent_id, limit=1000)]
        return await handle.flush_memory(FlushMemoryRequest(run_ids=runs))

    def new_run_id(self) -> str:
        """A fresh run id (the gateway names runs it starts on a schedule)."""
        return uuid.uuid4().hex
