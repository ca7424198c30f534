"""The seam between a HiveAgent and the gateway: its stream, the relay, its tools.

An agent process reaches these over HTTP with its agent token
(`HttpAgentHost` in the agent service); the gateway's local pool implements
them with direct calls. The runtime never sees a database or a vendor key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hive.contracts.agents import AgentDevTaskCreate
from hive.contracts.events import Event


class StaleAppend(Exception):
    """The stream moved past the expected version (another writer: a fenced-off runtime)."""


class AgentHost(Protocol):
    """What a HiveAgent needs from the gateway."""

    async def read_run(self, run_id: str) -> list[Event]:
        """Every event of `agentrun-<run_id>` in order (empty when the run is unknown)."""
        ...

    async def append(self, run_id: str, events: Sequence[Event], expected_version: int) -> int:
        """Append at `expected_version`; the new version, or StaleAppend."""
        ...

    async def chat(self, body: dict[str, Any], run_id: str) -> dict[str, Any]:
        """One chat completion through the relay, for this run (the relay checks its budget
        and refuses with code `budget_exhausted` once it is spent)."""
        ...

    async def create_dev_task(self, body: AgentDevTaskCreate) -> dict[str, Any]:
        """A Work Run in the agent's project (the same key returns the same task)."""
        ...

    async def get_dev_task(self, task_id: str) -> dict[str, Any]:
        """DevTaskStatus of a task of the agent's project."""
        ...

    async def list_dev_tasks(self, state: str | None) -> list[dict[str, Any]]:
        """The project's tasks, optionally by state."""
        ...
