"""An agent's dev-task tools, scoped to its project: create (idempotent by key), get, list.

`create_dev_task` carries an idempotency key derived from (run, step, call);
the task id is a digest of (agent, key), so a replayed step asks the sandbox
for the same task id, the sandbox refuses a second one (409) and the agent gets
the first task's status back: one Work Run per step, however often it replays.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from hive.contracts.agents import AgentConfig, AgentDevTaskCreate
from hive.contracts.problems import UpstreamAnswer
from hive.gateway.dev_tasks.facade import DevTaskFacade, ProjectDevTaskCreate
from hive.gateway.dev_tasks.sandbox_client import SandboxReply
from hive.gateway.errors import NotFound
from hive.gateway.projects.repository import ProjectRepository


def task_id_for(agent_id: str, idempotency_key: str) -> str:
    """The Work Run id of one (agent, idempotency key)."""
    digest = hashlib.sha256(f"{agent_id}\0{idempotency_key}".encode()).hexdigest()
    return "agt-" + digest[:32]


def _json(reply: SandboxReply) -> Any:
    if reply.status >= 400:
        try:
            doc = msgspec.json.decode(reply.body)
        except msgspec.DecodeError:
            doc = {}
        code = doc.get("code") if isinstance(doc, dict) else None
        detail = doc.get("detail") if isinstance(doc, dict) else None
        # The agent sees the sandbox's own code (a Work Run's not_found, conflict...).
        raise UpstreamAnswer(
            reply.status, str(detail or f"sandbox answered {reply.status}"), code=code
        )
    return msgspec.json.decode(reply.body)


class AgentDevTasks:
    """Dev-task calls on behalf of an agent."""

    def __init__(self, facade: DevTaskFacade, projects: ProjectRepository) -> None:
        self.facade = facade
        self.projects = projects

    async def create(self, agent: AgentConfig, body: AgentDevTaskCreate) -> dict[str, Any]:
        """A Work Run in the agent's project; the same key answers the same task."""
        project = await self.projects.get(agent.project_id)
        if project is None:
            raise NotFound("the agent's project is gone")
        task_id = task_id_for(agent.agent_id, body.idempotency_key)
        reply = await self.facade.create(
            project,
            ProjectDevTaskCreate(
                instructions=body.instructions,
                backend=body.backend,
                target_paths=body.target_paths,
                task_id=task_id,
            ),
        )
        if reply.status == 409:  # this step ran before: the task exists
            reply = await self.facade.status(agent.project_id, task_id)
        return dict(_json(reply))

    async def get(self, agent: AgentConfig, task_id: str) -> dict[str, Any]:
        """A task of the agent's project."""
        return dict(_json(await self.facade.status(agent.project_id, task_id)))

    async def list(self, agent: AgentConfig, state: str | None) -> list[dict[str, Any]]:
        """The project's tasks."""
        doc = _json(await self.facade.list(agent.project_id, {"state": state} if state else {}))
        items = doc if isinstance(doc, list) else doc.get("items", [])
        return [dict(t) for t in items]
