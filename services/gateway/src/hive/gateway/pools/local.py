"""LocalAgentPool (HIVE_POOL_BACKEND=local): HiveAgents inside the gateway process.

For source checkouts and previews: no process per agent, the same runtime
core and the same journal, relay and tools as the container pools, called
directly. Each agent's workspace is `<HIVE_WORKSPACE>/agents/<digest of id>`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hive.agentruntime import HiveAgent
from hive.agentruntime.memory import flush_agent
from hive.contracts.agents import (
    FlushMemoryRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunRequest,
    RunResult,
)
from hive.gateway.agents.registry import AgentRecord, workspace_name
from hive.gateway.pools.in_process import InProcessAgentHost

HostFactory = Callable[[AgentRecord], InProcessAgentHost]


class LocalAgentRuntime:
    """A HiveAgent in this process, behind the same handle as a remote one."""

    def __init__(self, agent: HiveAgent, workspace: Path, controller_id: str) -> None:
        self.agent = agent
        self.workspace = workspace
        self.controller_id = controller_id

    async def run(self, body: RunRequest) -> RunResult:
        """Start a run."""
        return await self.agent.run(body.input, body.run_id, body.wait_s, body.schedule_id)

    async def resume(self, body: ResumeRunRequest) -> RunResult:
        """Continue a run."""
        return await self.agent.resume(body.run_id, body.input, body.wait_s)

    async def flush_memory(self, body: FlushMemoryRequest) -> FlushMemoryResult:
        """Write the runs' notes into the agent's workspace."""
        return await flush_agent(self.agent, self.workspace, body.run_ids)

    async def health(self) -> dict[str, Any] | None:
        """The fields an agent process's /healthz would answer."""
        config = self.agent.config
        return {
            "status": "ok",
            "role": "agent",
            "workspace": str(self.workspace),
            "runtime_ready": True,
            "agent_id": config.agent_id,
            "project_id": config.project_id,
            "controller_id": self.controller_id,
            "deployment_backend": "local",
            "readiness_reason": None,
        }


class LocalAgentPool:
    """Agents as objects in the gateway."""

    name = "local"

    def __init__(self, workspace_root: Path, controller_id: str, hosts: HostFactory) -> None:
        self.root = workspace_root
        self.controller_id = controller_id
        self.hosts = hosts
        self._agents: dict[str, LocalAgentRuntime] = {}

    async def start(self, agents: list[AgentRecord]) -> None:
        """Build every registered agent."""
        for agent in agents:
            await self.ensure(agent)

    async def ensure(self, agent: AgentRecord) -> None:
        """Build this agent if not built yet."""
        if agent.agent_id in self._agents:
            return
        workspace = self.root / workspace_name(agent.agent_id)
        workspace.mkdir(parents=True, exist_ok=True)
        runtime = HiveAgent(agent.config, self.hosts(agent))
        self._agents[agent.agent_id] = LocalAgentRuntime(runtime, workspace, self.controller_id)

    async def remove(self, agent_id: str) -> None:
        """Stop its executing run (the stream keeps its place) and forget it."""
        runtime = self._agents.pop(agent_id, None)
        if runtime is not None:
            await runtime.agent.close()

    def runtime(self, agent_id: str) -> LocalAgentRuntime | None:
        """The agent's handle."""
        return self._agents.get(agent_id)

    async def close(self) -> None:
        """Stop every executing run."""
        for agent_id in list(self._agents):
            await self.remove(agent_id)
