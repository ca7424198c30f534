"""The gateway's HTTP client for the sandbox (X-Internal-Secret on every call).

Replies are kept as bytes: the facade passes the sandbox's JSON through
unchanged (decoding only what it must check), so fields the sandbox adds
reach the dashboard without a gateway release. Streams (SSE events, command
logs) are opened here and handed to the caller to forward chunk by chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError


@dataclass(frozen=True, slots=True)
class SandboxReply:
    """A complete sandbox answer."""

    status: int
    content_type: str
    body: bytes
    headers: httpx.Headers


def _unreachable(exc: Exception) -> HiveHTTPError:
    # The exception text names host and port only; it never holds the secret.
    return HiveHTTPError(
        502, ErrorCode.UPSTREAM_ERROR, f"sandbox unreachable: {type(exc).__name__}"
    )


class SandboxClient:
    """Calls to HIVE_SANDBOX_URL."""

    def __init__(self, base_url: str, internal_secret: str, *, timeout_s: float = 60.0) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-Internal-Secret": internal_secret},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

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
            resp = await self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        return SandboxReply(
            status=resp.status_code,
            content_type=resp.headers.get("content-type", "application/json"),
            body=resp.content,
            headers=resp.headers,
        )

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A GET whose body is read incrementally (no read timeout: streams idle)."""
        request = self._client.build_request(
            "GET",
            path,
            params=params,
            headers=headers,
            timeout=httpx.Timeout(None, connect=5.0),
        )
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _unreachable(exc) from exc
        try:
            yield resp
        finally:
            await resp.aclose()
