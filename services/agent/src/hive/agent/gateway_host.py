"""AgentHost over HTTP: the agent process reaches its stream, the relay and its tools
through the gateway with its agent token (no database, no vendor key here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from hive.agentruntime import StaleAppend
from hive.agentruntime.budget import RUN_HEADER
from hive.agentruntime.errors import HostUnavailable
from hive.contracts.agents import AgentDevTaskCreate, Appended, AppendEvents, RecordedAgentEvent
from hive.contracts.events import Event, WorkRunEvent
from hive.contracts.relay_client import TaskRelayClient, error_from
from hive.contracts.tokens import lifetime_of

_events = msgspec.json.Decoder(list[RecordedAgentEvent])
_appended = msgspec.json.Decoder(Appended)


class GatewayAgentHost:
    """The internal agent API (`/internal/agent-runs/...`, `/internal/agents/...`) and the relay."""

    def __init__(self, gateway_url: str, agent_id: str, token: str) -> None:
        self._base = gateway_url.rstrip("/")
        self._agent = quote(agent_id, safe="")
        self.token = token
        self._renewing = asyncio.Lock()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0))
        self.relay = TaskRelayClient(gateway_url, self.current_token, client=self._client)

    async def current_token(self) -> str:
        """The agent token, renewed through the gateway once less than a tenth of its
        lifetime (at least a minute) is left; the runtime never holds anything to mint one."""
        async with self._renewing:
            life = lifetime_of(self.token)
            if life is not None and life[1] - time.time() < max(60, (life[1] - life[0]) / 10):
                resp = await self._client.post(
                    f"{self._base}/internal/agents/{self._agent}/token",
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                if resp.status_code != 201:
                    raise error_from(resp.status_code, resp.content, resp.headers)
                self.token = str(resp.json()["token"])
        return self.token

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {
                **kwargs.pop("headers", {}),
                "Authorization": f"Bearer {await self.current_token()}",
            }
            resp = await self._client.request(method, self._base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise HostUnavailable(f"the gateway is not answering ({type(exc).__name__})") from exc
        if resp.status_code == 409 and "/events" in path:
            raise StaleAppend(resp.text)
        if resp.status_code >= 400:
            raise error_from(resp.status_code, resp.content, resp.headers)
        return resp

    async def read_run(self, run_id: str) -> list[Event]:
        """Every event of the run."""
        resp = await self._call("GET", f"/internal/agent-runs/{quote(run_id, safe='')}/events")
        return [msgspec.convert(r.event, WorkRunEvent) for r in _events.decode(resp.content)]

    async def append(self, run_id: str, events: Sequence[Event], expected_version: int) -> int:
        """Append at the expected version."""
        body = AppendEvents(
            expected_version=expected_version,
            events=[msgspec.to_builtins(e) for e in events],
        )
        resp = await self._call(
            "POST",
            f"/internal/agent-runs/{quote(run_id, safe='')}/events",
            content=msgspec.json.encode(body),
            headers={"Content-Type": "application/json"},
        )
        return _appended.decode(resp.content).stream_version

    async def chat(self, body: dict[str, Any], run_id: str) -> dict[str, Any]:
        """One chat completion through the relay, within the run's budget."""
        return await self.relay.chat_completions(body, {RUN_HEADER: run_id})

    async def create_dev_task(self, body: AgentDevTaskCreate) -> dict[str, Any]:
        """A Work Run in the agent's project."""
        resp = await self._call(
            "POST",
            f"/internal/agents/{self._agent}/dev-tasks",
            content=msgspec.json.encode(body),
            headers={"Content-Type": "application/json"},
        )
        return dict(resp.json())

    async def get_dev_task(self, task_id: str) -> dict[str, Any]:
        """A task of the agent's project."""
        path = f"/internal/agents/{self._agent}/dev-tasks/{quote(task_id, safe='')}"
        return dict((await self._call("GET", path)).json())

    async def list_dev_tasks(self, state: str | None) -> list[dict[str, Any]]:
        """The project's tasks."""
        params = {"state": state} if state else {}
        resp = await self._call("GET", f"/internal/agents/{self._agent}/dev-tasks", params=params)
        doc = resp.json()
        return list(doc if isinstance(doc, list) else doc.get("items", []))
