"""The pool seam: `AgentPool` (lifecycle) and `AgentRuntimeHandle` (one agent's runtime)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import msgspec

from hive.contracts.agents import (
    FlushMemoryRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunRequest,
    RunResult,
)
from hive.contracts.problems import UpstreamAnswer
from hive.gateway.agents.registry import AgentRecord
from hive.gateway.errors import Unavailable


class AgentRuntimeHandle(Protocol):
    """One agent's runtime, wherever it runs."""

    async def run(self, body: RunRequest) -> RunResult:
        """POST /run."""
        ...

    async def resume(self, body: ResumeRunRequest) -> RunResult:
        """POST /resume-run."""
        ...

    async def flush_memory(self, body: FlushMemoryRequest) -> FlushMemoryResult:
        """POST /flush-memory."""
        ...

    async def health(self) -> dict[str, Any] | None:
        """The runtime's /healthz document, or None when it does not answer."""
        ...


class AgentPool(Protocol):
    """Starts, supervises and stops agent runtimes."""

    name: str
    """The `pool` field of an agent view (local, local_subprocess, kubernetes)."""

    async def start(self, agents: list[AgentRecord]) -> None:
        """Bring up these agents (and clean up what an earlier gateway left behind)."""
        ...

    async def ensure(self, agent: AgentRecord) -> None:
        """Run this agent's runtime (idempotent)."""
        ...

    async def remove(self, agent_id: str) -> None:
        """Stop and forget this agent's runtime."""
        ...

    def runtime(self, agent_id: str) -> AgentRuntimeHandle | None:
        """The handle of a managed agent."""
        ...

    async def close(self) -> None:
        """Stop every runtime this pool started."""
        ...


_run_result = msgspec.json.Decoder(RunResult)
_flush_result = msgspec.json.Decoder(FlushMemoryResult)


class HttpAgentRuntime:
    """A runtime served over HTTP (a local process, a Pod behind its Service)."""

    def __init__(self, base_url: str, credential: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self._client = client

    async def _post(self, path: str, body: msgspec.Struct, timeout_s: float) -> bytes:
        try:
            resp = await self._client.post(
                self.base_url + path,
                content=msgspec.json.encode(body),
                headers={
                    "Authorization": f"Bearer {self.credential}",
                    "Content-Type": "application/json",
                },
                timeout=timeout_s,
            )
        except httpx.HTTPError as exc:
            raise Unavailable(f"the agent runtime is not answering ({type(exc).__name__})") from exc
        if resp.status_code >= 400:
            try:
                doc = resp.json()
            except ValueError:
                doc = {}
            # The runtime's own code (agent_busy, not_found...) reaches the caller.
            raise UpstreamAnswer(
                resp.status_code,
                str(doc.get("detail") or f"the agent runtime answered {resp.status_code}"),
                code=doc.get("code"),
            )
        return resp.content

    async def run(self, body: RunRequest) -> RunResult:
        """POST /run."""
        return _run_result.decode(await self._post("/run", body, body.wait_s + 30))

    async def resume(self, body: ResumeRunRequest) -> RunResult:
        """POST /resume-run."""
        return _run_result.decode(await self._post("/resume-run", body, body.wait_s + 30))

    async def flush_memory(self, body: FlushMemoryRequest) -> FlushMemoryResult:
        """POST /flush-memory."""
        return _flush_result.decode(await self._post("/flush-memory", body, 60))

    async def health(self) -> dict[str, Any] | None:
        """GET /healthz (no credential needed)."""
        try:
            resp = await self._client.get(self.base_url + "/healthz", timeout=3.0)
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        doc = resp.json()
        return doc if isinstance(doc, dict) else None
