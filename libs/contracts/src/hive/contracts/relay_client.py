"""The task-relay client: how isolated runtimes call models through the gateway.

Agent runtimes and the sandbox's `relay_helper` never hold a vendor key; they
hold a short-lived task token and call the gateway relay
(`{HIVE_GATEWAY_URL}/relay/v1/...`), which adds the key upstream. This is the
one client every such runtime uses:

- `TaskRelayClient` speaks the OpenAI-compatible relay: models, chat
  completions and responses, plain or streamed (SSE), plus `forward` for a
  local helper proxy that must pass bytes through untouched.
- A token is either a fixed string or a `TokenSource`; `IssuedTokenSource`
  obtains tokens from `POST /internal/task-tokens` with the internal secret
  and renews them before they expire.

Errors form one hierarchy::

    RelayError                  any refusal or failure, with status and code
    ├── RelayAuthError          401/403: bad, expired, revoked or wrong-scope token
    ├── RelayRateLimited        429: `retry_after_s` says when to retry
    └── RelayUpstreamError      502/503/504 or the relay is unreachable
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import msgspec

from hive.contracts.errors import ErrorCode
from hive.contracts.sse import SSEDecoder, SSEEvent
from hive.contracts.tokens import SCOPE_RELAY

TokenSource = Callable[[], Awaitable[str]]

__all__ = [
    "IssuedTokenSource",
    "RelayAuthError",
    "RelayError",
    "RelayRateLimited",
    "RelayUpstreamError",
    "SSEEvent",
    "TaskRelayClient",
    "TokenSource",
    "error_from",
]


class RelayError(Exception):
    """The relay refused or failed a call."""

    def __init__(self, status: int, code: str, detail: str | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.status = status
        self.code = code
        self.detail = detail


class RelayAuthError(RelayError):
    """The task token was refused (401) or lacks the scope (403)."""


class RelayRateLimited(RelayError):
    """The per-token rate limit was hit."""

    def __init__(self, status: int, code: str, detail: str | None, retry_after_s: float) -> None:
        super().__init__(status, code, detail)
        self.retry_after_s = retry_after_s


class RelayUpstreamError(RelayError):
    """The model provider (or the gateway itself) could not answer."""


def _error_from(status: int, body: bytes, headers: httpx.Headers) -> RelayError:
    code: str = ErrorCode.UPSTREAM_ERROR if status >= 500 else ErrorCode.HTTP_ERROR
    detail: str | None = None
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("code"), str):
            code = doc["code"]
            detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
        elif isinstance(doc.get("error"), dict):  # an OpenAI-style upstream error body
            err = doc["error"]
            code = str(err.get("code") or err.get("type") or code)
            detail = err.get("message") if isinstance(err.get("message"), str) else None
    if status in (401, 403):
        return RelayAuthError(status, code, detail)
    if status == 429:
        try:
            retry = float(headers.get("retry-after", "1"))
        except ValueError:
            retry = 1.0
        return RelayRateLimited(status, code, detail, retry)
    if status >= 500:
        return RelayUpstreamError(status, code, detail)
    return RelayError(status, code, detail)


def error_from(status: int, body: bytes, headers: httpx.Headers) -> RelayError:
    """The typed error of a refused gateway call (problem+json or an OpenAI error body)."""
    return _error_from(status, body, headers)


class IssuedTokenSource:
    """Task tokens from the gateway's `POST /internal/task-tokens`, renewed before expiry.

    For runtimes that hold `HIVE_INTERNAL_SECRET` (the agent runtime, the
    sandbox); the tokens they hand onwards (to Codex, say) stay short-lived.
    """

    def __init__(
        self,
        gateway_url: str,
        internal_secret: str,
        *,
        task_id: str | None = None,
        agent_id: str | None = None,
        scopes: Sequence[str] = (SCOPE_RELAY,),
        ttl_s: int | None = None,
        renew_margin_s: float = 60.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = gateway_url.rstrip("/") + "/internal/task-tokens"
        self._secret = internal_secret
        self._body: dict[str, Any] = {"scopes": list(scopes)}
        if task_id is not None:
            self._body["task_id"] = task_id
        if agent_id is not None:
            self._body["agent_id"] = agent_id
        if ttl_s is not None:
            self._body["ttl_s"] = ttl_s
        self._margin = renew_margin_s
        self._client = client
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        """A token valid for at least the renew margin (fetching a new one if needed)."""
        async with self._lock:  # concurrent callers share one renewal
            if self._token is None or time.time() >= self._expires_at - self._margin:
                await self._renew()
        assert self._token is not None
        return self._token

    async def _renew(self) -> None:
        client = self._client or httpx.AsyncClient(timeout=30.0)
        try:
            resp = await client.post(
                self._url, json=self._body, headers={"X-Internal-Secret": self._secret}
            )
        except httpx.HTTPError as exc:
            raise RelayUpstreamError(
                503, ErrorCode.UNAVAILABLE, f"gateway unreachable: {exc}"
            ) from exc
        finally:
            if self._client is None:
                await client.aclose()
        if resp.status_code != 201:
            raise _error_from(resp.status_code, resp.content, resp.headers)
        doc = resp.json()
        self._token = str(doc["token"])
        expires = doc.get("expires_at")
        ttl = self._body.get("ttl_s", 900)
        self._expires_at = _parse_time(expires) if isinstance(expires, str) else time.time() + ttl


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TaskRelayClient:
    """OpenAI-compatible calls through the gateway relay with a task token."""

    def __init__(
        self,
        gateway_url: str,
        token: str | TokenSource,
        *,
        timeout_s: float = 600.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = gateway_url.rstrip("/") + "/relay/v1"
        self._token = token
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0))

    async def __aenter__(self) -> TaskRelayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP client if this object created it."""
        if self._own_client:
            await self._client.aclose()

    async def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        token = self._token if isinstance(self._token, str) else await self._token()
        return {"Authorization": f"Bearer {token}", **(extra or {})}

    async def _json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            resp = await self._client.request(
                method, self.base_url + path, json=body, headers=await self._headers(headers)
            )
        except httpx.HTTPError as exc:
            raise RelayUpstreamError(
                503, ErrorCode.UNAVAILABLE, f"relay unreachable: {exc}"
            ) from exc
        if resp.status_code >= 400:
            raise _error_from(resp.status_code, resp.content, resp.headers)
        return resp.json()

    async def models(self) -> list[dict[str, Any]]:
        """The models the relay offers (`GET /relay/v1/models`)."""
        doc = await self._json("GET", "/models", None)
        return list(doc.get("data", []))

    async def chat_completions(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One non-streamed chat completion (`headers`: e.g. an agent's run header)."""
        return dict(
            await self._json("POST", "/chat/completions", {**body, "stream": False}, headers)
        )

    async def responses(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streamed Responses API call."""
        return dict(await self._json("POST", "/responses", {**body, "stream": False}))

    async def stream_events(self, path: str, body: dict[str, Any]) -> AsyncIterator[SSEEvent]:
        """POST with `stream: true` and yield the server-sent events as they arrive."""
        content = msgspec.json.encode({**body, "stream": True})
        async with self.forward(
            "POST", path, content=content, headers={"Content-Type": "application/json"}
        ) as resp:
            if resp.status_code >= 400:
                raise _error_from(resp.status_code, await resp.aread(), resp.headers)
            decoder = SSEDecoder()
            async for chunk in resp.aiter_bytes():
                for event in decoder.feed(chunk):
                    yield event
            for event in decoder.close():
                yield event

    async def stream_chat_completions(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Streamed chat completion chunks (decoded), ending at `[DONE]`."""
        async for event in self.stream_events("/chat/completions", body):
            if event.data == "[DONE]":
                return
            if event.data:
                yield msgspec.json.decode(event.data)

    async def stream_responses(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Streamed Responses API events (decoded), ending after `response.completed`."""
        async for event in self.stream_events("/responses", body):
            if not event.data:
                continue
            doc = msgspec.json.decode(event.data)
            yield doc
            if isinstance(doc, dict) and doc.get("type") in (
                "response.completed",
                "response.failed",
                "response.incomplete",
            ):
                return

    @asynccontextmanager
    async def forward(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A raw streamed call to `/relay/v1{path}`; the status is not checked.

        For a local relay helper that passes a runtime's request and the
        relay's answer through byte for byte (the caller's own Authorization
        header is replaced by the task token).
        """
        keep = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        request = self._client.build_request(
            method, self.base_url + path, content=content, headers=await self._headers(keep)
        )
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise RelayUpstreamError(
                503, ErrorCode.UNAVAILABLE, f"relay unreachable: {exc}"
            ) from exc
        try:
            yield resp
        finally:
            await resp.aclose()
