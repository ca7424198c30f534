"""The model relay: OpenAI-compatible calls forwarded upstream with the vendor key.

The caller authenticates with a task token (checked by the API layer); this
module picks the provider by the body's `model`, adds the provider key, and
forwards the request body byte for byte. Answers come back unchanged except
that the vendor key, should an upstream ever echo it, is cut out. Streamed
answers (SSE) are forwarded chunk by chunk as they arrive, while a decoder
watches the same bytes for the usage block; nothing is buffered.

Only a few caller headers pass (content negotiation, `OpenAI-Beta`); the
caller's Authorization (its task token) never reaches the provider, and only
the content type of the provider's answer reaches the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import aiohttp
import msgspec

from hive.contracts.events import ModelCallRecorded
from hive.contracts.sse import LineTooLong, SSEDecoder
from hive.contracts.tokens import TaskTokenClaims
from hive.gateway.errors import Invalid, NotFound, UpstreamFailed
from hive.gateway.platform.metrics import GatewayMetrics
from hive.gateway.relay.call_records import CallRecorder
from hive.gateway.relay.providers import ModelProvider, provider_for

log = logging.getLogger("hive.gateway.relay.model_relay")

Endpoint = Literal["chat/completions", "responses"]
KeyLookup = Callable[[str], Awaitable[str | None]]

FORWARDED_HEADERS = ("accept", "openai-beta")
REDACTED = b"[REDACTED]"
MAX_ERROR_BODY = 256 * 1024


class CallAdmission(Protocol):
    """Admits a call before it is forwarded (the agents' run budgets)."""

    async def admit(self, claims: TaskTokenClaims, headers: Mapping[str, str]) -> str | None:
        """The key the call is accounted to (None: nothing to account), or a refusal."""
        ...

    def spent(self, key: str, tokens: int) -> None:
        """The tokens an admitted call used."""
        ...


class RequestHead(msgspec.Struct, kw_only=True):
    """The two fields of a relay body the gateway reads; the rest passes untouched."""

    model: str
    stream: bool = False


class _Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class _Inner(msgspec.Struct, kw_only=True):
    usage: _Usage | None = None


class _UsageDoc(msgspec.Struct, kw_only=True):
    usage: _Usage | None = None
    response: _Inner | None = None


_usage_decoder = msgspec.json.Decoder(_UsageDoc)
_head_decoder = msgspec.json.Decoder(RequestHead)


@dataclass(slots=True)
class Usage:
    """Token counts as the upstream reported them (None when it did not)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


def usage_from_json(body: bytes | str) -> Usage | None:
    """Usage of a chat completion, a response, or a `response.completed` event."""
    try:
        doc = _usage_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    u = doc.usage or (doc.response.usage if doc.response is not None else None)
    if u is None:
        return None
    return Usage(
        input_tokens=u.prompt_tokens if u.prompt_tokens is not None else u.input_tokens,
        output_tokens=u.completion_tokens if u.completion_tokens is not None else u.output_tokens,
        total_tokens=u.total_tokens,
    )


def parse_head(body: bytes) -> RequestHead:
    """The model and stream flag, or a 422 problem."""
    try:
        return _head_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Invalid(f"body must be a JSON object with a model: {exc}") from exc


class StreamRedactor:
    """Cuts a secret out of a byte stream even when it is split across chunks.

    Each chunk is forwarded at once except for a tail that could be the start of
    the secret (at most len(secret) - 1 bytes, and only when it matches): that tail
    waits for the next chunk. An SSE event ends in a blank line, which is not the
    start of a key, so events are not held back.
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        """What of `chunk` (and the held tail) can be forwarded now, redacted."""
        data = (self._held + chunk).replace(self.secret, REDACTED)
        keep = 0
        for n in range(min(len(self.secret) - 1, len(data)), 0, -1):
            if data.endswith(self.secret[:n]):
                keep = n
                break
        self._held = data[len(data) - keep :]
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        """The held tail at the end of the stream (it was not the secret)."""
        rest, self._held = self._held, b""
        return rest


@dataclass(slots=True)
class RelayAnswer:
    """What the API layer sends back: a complete body or a chunk stream."""

    status: int
    content_type: str
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Call:
    claims: TaskTokenClaims
    provider: ModelProvider
    model: str
    endpoint: Endpoint
    stream: bool
    started: float
    first_byte: float | None = None
    accounted_to: str | None = None


class ModelRelay:
    """Forwards relay calls to the configured providers and records each call."""

    def __init__(
        self,
        providers: tuple[ModelProvider, ...],
        *,
        stored_key: KeyLookup,
        recorder: CallRecorder,
        metrics: GatewayMetrics,
        timeout_s: float,
    ) -> None:
        self.providers = providers
        self._stored_key = stored_key
        self._recorder = recorder
        self._metrics = metrics
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self.admission: CallAdmission | None = None
        """Set by the agents feature: agent calls are checked against their run's budget."""
        self.models_document = msgspec.json.encode(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": p.id}
                    for p in providers
                    for m in p.models
                ],
            }
        )

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the server's event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=500, keepalive_timeout=30),
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        """Close upstream connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _key(self, provider: ModelProvider) -> str | None:
        if provider.api_key:
            return provider.api_key
        stored = await self._stored_key(provider.id)
        if stored is None and provider.api_key_env:
            raise UpstreamFailed(
                f"no key configured for provider {provider.id} "
                f"(set {provider.api_key_env} or store a provider credential)",
            )
        return stored

    async def call(
        self,
        endpoint: Endpoint,
        body: bytes,
        claims: TaskTokenClaims,
        caller_headers: Mapping[str, str],
    ) -> RelayAnswer:
        """Forward one call; the answer streams when the body asked for `stream: true`."""
        head = parse_head(body)
        provider = provider_for(self.providers, head.model)
        if provider is None:
            raise NotFound(f"model {head.model!r} is not offered")
        accounted_to = (
            await self.admission.admit(claims, caller_headers) if self.admission else None
        )
        key = await self._key(provider)
        # identity: the answer is forwarded as-is, so it must not arrive compressed.
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        for name in FORWARDED_HEADERS:
            if name in caller_headers:
                headers[name] = caller_headers[name]
        if key:
            headers["Authorization"] = f"Bearer {key}"
        call = _Call(claims, provider, head.model, endpoint, head.stream, time.perf_counter())
        call.accounted_to = accounted_to
        timeout = (
            aiohttp.ClientTimeout(total=None, sock_read=self._timeout_s, connect=10.0)
            if head.stream
            else aiohttp.ClientTimeout(total=self._timeout_s, connect=10.0)
        )
        try:
            resp = await self._client().post(
                f"{provider.base_url}/{endpoint}", data=body, headers=headers, timeout=timeout
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._finish(call, 502, "unreachable", None)
            raise UpstreamFailed(
                f"provider {provider.id} unreachable: {type(exc).__name__}",
            ) from exc
        call.first_byte = time.perf_counter()
        content_type = resp.headers.get("Content-Type", "application/json")
        key_bytes = key.encode() if key else None
        if head.stream and resp.status < 400:
            return RelayAnswer(
                status=resp.status,
                content_type=content_type,
                chunks=self._relay_stream(call, resp, key_bytes),
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            data = await _read_bounded(resp, None if resp.status < 400 else MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._finish(call, 502, "unreachable", None)
            raise UpstreamFailed(f"provider {provider.id} broke off the answer") from exc
        finally:
            resp.release()
        if key_bytes and key_bytes in data:
            data = data.replace(key_bytes, REDACTED)
        if resp.status in (401, 403):
            # The provider refused the gateway's key, not the caller's token: to the
            # caller that is an upstream failure (and a 401 would read as "your token").
            self._finish(call, resp.status, "upstream_error", None)
            log.error("provider %s refused the configured key (%d)", provider.id, resp.status)
            raise UpstreamFailed(
                f"provider {provider.id} refused the gateway's credentials ({resp.status})",
            )
        ok = resp.status < 400
        usage = usage_from_json(data) if ok else None
        self._finish(call, resp.status, "ok" if ok else "upstream_error", usage)
        return RelayAnswer(status=resp.status, content_type=content_type, body=data)

    async def _relay_stream(
        self, call: _Call, resp: aiohttp.ClientResponse, key_bytes: bytes | None
    ) -> AsyncIterator[bytes]:
        decoder: SSEDecoder | None = SSEDecoder()
        redactor = StreamRedactor(key_bytes) if key_bytes else None
        usage: Usage | None = None
        outcome = "client_disconnected"
        try:
            async for chunk in resp.content.iter_any():
                if decoder is not None:
                    try:
                        for event in decoder.feed(chunk):
                            if '"usage"' in event.data:
                                usage = usage_from_json(event.data) or usage
                    except LineTooLong:
                        decoder = None  # not SSE after all: keep forwarding, stop watching
                if redactor is not None:
                    chunk = redactor.feed(chunk)
                if chunk:
                    yield chunk
            if redactor is not None and (rest := redactor.flush()):
                yield rest
            outcome = "ok"
        except (TimeoutError, aiohttp.ClientError):
            outcome = "upstream_error"
            log.warning("provider %s broke off a stream", call.provider.id)
        finally:
            # A stream cut short leaves the connection mid-body: close, do not reuse.
            if outcome == "ok":
                resp.release()
            else:
                resp.close()
            self._finish(call, resp.status, outcome, usage)

    def _finish(self, call: _Call, status: int, outcome: str, usage: Usage | None) -> None:
        now = time.perf_counter()
        latency_s = now - call.started
        u = usage or Usage()
        if call.accounted_to is not None and self.admission is not None:
            tokens = u.total_tokens or (u.input_tokens or 0) + (u.output_tokens or 0)
            self.admission.spent(call.accounted_to, tokens)
        self._metrics.relay_call(
            call.provider.id,
            call.model,
            call.endpoint,
            outcome,
            latency_s,
            u.input_tokens,
            u.output_tokens,
        )
        self._recorder.record(
            ModelCallRecorded(
                jti=call.claims.jti,
                task_id=call.claims.task_id,
                agent_id=call.claims.agent_id,
                provider_id=call.provider.id,
                model=call.model,
                endpoint=call.endpoint,
                stream=call.stream,
                status_code=status,
                outcome=outcome,  # type: ignore[arg-type]
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                total_tokens=u.total_tokens,
                latency_ms=round(latency_s * 1000, 3),
                first_byte_ms=None
                if call.first_byte is None
                else round((call.first_byte - call.started) * 1000, 3),
                recorded_at=datetime.now(UTC),
            )
        )


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int | None) -> bytes:
    if limit is None:
        return await resp.read()
    out = bytearray()
    async for chunk in resp.content.iter_any():
        out += chunk[: limit - len(out)]
        if len(out) >= limit:
            break
    return bytes(out)
