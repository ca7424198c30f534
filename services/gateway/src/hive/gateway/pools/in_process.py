"""AgentHost inside the gateway (the local pool): the same journal, relay and tools
the internal API serves to agent processes, called directly."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from hive.agentruntime.budget import RUN_HEADER
from hive.contracts.agents import AgentConfig, AgentDevTaskCreate
from hive.contracts.events import Event
from hive.contracts.problems import UpstreamAnswer
from hive.contracts.tokens import SCOPE_AGENT, SCOPE_RELAY, TaskTokenClaims
from hive.gateway.agents.dev_tasks import AgentDevTasks
from hive.gateway.agents.journal import AgentRunJournal
from hive.gateway.relay.model_relay import ModelRelay


class InProcessAgentHost:
    """A HiveAgent's host when it runs in the gateway process."""

    def __init__(
        self,
        config: AgentConfig,
        journal: AgentRunJournal,
        relay: ModelRelay,
        dev_tasks: AgentDevTasks,
    ) -> None:
        self.config = config
        self.journal = journal
        self.relay = relay
        self.dev_tasks = dev_tasks

    def _claims(self) -> TaskTokenClaims:
        # Calls are attributed to the agent exactly as a token-bearing runtime's are.
        now = int(time.time())
        return TaskTokenClaims(
            jti=f"local-agent-{self.config.agent_id}",
            scopes=[SCOPE_RELAY, SCOPE_AGENT],
            exp=now + 3600,
            iat=now,
            agent_id=self.config.agent_id,
        )

    async def read_run(self, run_id: str) -> list[Event]:
        """Every event of the run."""
        return await self.journal.read(run_id)

    async def append(self, run_id: str, events: Sequence[Event], expected_version: int) -> int:
        """Append through the journal."""
        return await self.journal.append(run_id, self.config.agent_id, events, expected_version)

    async def chat(self, body: dict[str, Any], run_id: str) -> dict[str, Any]:
        """One chat completion through the relay (the vendor key never leaves it; the run's
        budget is checked there, as for an agent process)."""
        answer = await self.relay.call(
            "chat/completions",
            msgspec.json.encode({**body, "stream": False}),
            self._claims(),
            {RUN_HEADER.lower(): run_id},
        )
        if answer.status >= 400:
            raise UpstreamAnswer(answer.status, f"relay answered {answer.status}")
        return dict(msgspec.json.decode(answer.body))

    async def create_dev_task(self, body: AgentDevTaskCreate) -> dict[str, Any]:
        """A Work Run in the agent's project."""
        return await self.dev_tasks.create(self.config, body)

    async def get_dev_task(self, task_id: str) -> dict[str, Any]:
        """A task of the project."""
        return await self.dev_tasks.get(self.config, task_id)

    async def list_dev_tasks(self, state: str | None) -> list[dict[str, Any]]:
        """The project's tasks."""
        return await self.dev_tasks.list(self.config, state)
