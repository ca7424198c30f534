"""The shared task-relay client (hive.contracts.relay_client) against the real gateway."""

from __future__ import annotations

import uuid

import pytest

from hive.contracts.relay_client import (
    IssuedTokenSource,
    RelayAuthError,
    RelayError,
    RelayRateLimited,
    RelayUpstreamError,
    TaskRelayClient,
)
from tests.gateway.conftest import RELAY_RATE_PER_MINUTE
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SECRET
from tests.support.scripted_model import FunctionCall, Message, ScriptedModelServer


async def test_calls_with_a_token_issued_by_the_gateway(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    source = IssuedTokenSource(gateway.url, SECRET, task_id=f"rc-{uuid.uuid4().hex[:6]}")
    async with TaskRelayClient(gateway.url, source) as relay:
        assert "scripted-model" in {m["id"] for m in await relay.models()}
        model_upstream.script(Message("plain answer"))
        chat = await relay.chat_completions({"model": "scripted-model", "messages": []})
        assert chat["choices"][0]["message"]["content"] == "plain answer"
        model_upstream.script([FunctionCall("exec_command", {"cmd": "ls"}), Message("done")])
        events = [e async for e in relay.stream_responses({"model": "gpt-5.5", "input": "go"})]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    items = [e["item"]["type"] for e in events if e["type"] == "response.output_item.done"]
    assert items == ["function_call", "message"]
    # One token served all calls (renewed only near expiry).
    assert source._token is not None


async def test_streamed_chat_chunks_end_at_done(gateway: GatewayServer) -> None:
    token = gateway.task_token(task_id="rc-chat")["token"]
    async with TaskRelayClient(gateway.url, token) as relay:
        chunks = [
            c
            async for c in relay.stream_chat_completions(
                {"model": "scripted-model", "messages": []}
            )
        ]
    assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_refusals_map_to_typed_errors(gateway: GatewayServer) -> None:
    async with TaskRelayClient(gateway.url, "hvt.not.valid") as relay:
        with pytest.raises(RelayAuthError) as auth:
            await relay.models()
    assert auth.value.status == 401
    scoped = gateway.task_token(task_id="rc-s", scopes=["sandbox:task:rc-s"])["token"]
    async with TaskRelayClient(gateway.url, scoped) as relay:
        with pytest.raises(RelayAuthError) as scope:
            await relay.models()
    assert scope.value.code == "token_scope"
    async with TaskRelayClient(gateway.url, gateway.task_token(task_id="rc-e")["token"]) as relay:
        with pytest.raises(RelayError) as unknown:
            await relay.chat_completions({"model": "nope", "messages": []})
        assert unknown.value.status == 404
        with pytest.raises(RelayUpstreamError):
            await relay.chat_completions({"model": "down-model", "messages": []})
        with pytest.raises(RelayRateLimited) as limited:
            for _ in range(RELAY_RATE_PER_MINUTE + 2):
                await relay.models()
    assert limited.value.retry_after_s >= 1


async def test_the_internal_secret_is_needed_to_obtain_tokens(gateway: GatewayServer) -> None:
    source = IssuedTokenSource(gateway.url, "wrong-secret-" + "z" * 30, task_id="rc-x")
    with pytest.raises(RelayAuthError):
        await source()
