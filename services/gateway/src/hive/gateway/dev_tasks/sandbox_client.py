"""The gateway's HTTP client for the sandbox (X-Internal-Secret on every call).

Replies are kept as bytes: the facade passes the sandbox's JSON through
unchanged (decoding only what it must check), so fields the sandbox adds
reach the dashboard without a gateway release. Streams (SSE events, command
logs) are opened here and handed to the caller to forward chunk by chunk.

aiohttp rather than httpx on this hop: every dashboard request pays for it,
and httpx's pure-Python pool costs about ten times as much CPU per request
(benchmarks/gateway_throughput.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from hive.gateway.errors import GatewayError, UpstreamFailed


@dataclass(frozen=True, slots=True)
class SandboxReply:
    """A complete sandbox answer."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str]


def _unreachable(exc: BaseException) -> GatewayError:
    # The exception text names host and port only; it never holds the secret.
    return UpstreamFailed(f"sandbox unreachable: {type(exc).__name__}")


class SandboxStream:
    """An open streamed answer: status, headers, and its body chunks as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        """The whole remaining body."""
        return await self._response.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as the sandbox sends them (no re-buffering)."""
        async for chunk in self._response.content.iter_any():
            yield chunk


class SandboxClient:
    """Calls to HIVE_SANDBOX_URL."""

    def __init__(self, base_url: str, internal_secret: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"X-Internal-Secret": internal_secret}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=5.0)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the server's event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30),
            )
        return self._session

    def _url(self, path: str) -> URL:
        # Ids are percent-encoded by the caller; keep them exactly as given.
        return URL(self.base_url + path, encoded=True)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
    ) -> SandboxReply:
        """One call, read completely."""
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            async with self._client().request(
                method,
                self._url(path),
                params=_query(params),
                data=content,
                headers=headers,
            ) as resp:
                body = await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _unreachable(exc) from exc
        return SandboxReply(
            status=resp.status,
            content_type=resp.headers.get("Content-Type", "application/json"),
            body=body,
            headers=resp.headers,
        )

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[SandboxStream]:
        """A GET whose body is read incrementally (no total or read timeout: streams idle)."""
        try:
            resp = await self._client().get(
                self._url(path),
                params=_query(params),
                headers=dict(headers or {}),
                timeout=aiohttp.ClientTimeout(total=None, connect=5.0),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _unreachable(exc) from exc
        try:
            yield SandboxStream(resp)
        finally:
            # close(), not release(): a stream cut short leaves the connection unusable.
            resp.close()


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
