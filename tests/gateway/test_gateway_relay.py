"""The model relay against the scripted OpenAI-compatible upstream (the one test double)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from hive.contracts.events import ModelCallRecorded
from hive.contracts.sse import SSEDecoder
from hive.contracts.tokens import issue
from hive.events import EventStore
from tests.gateway.conftest import RELAY_RATE_PER_MINUTE, VENDOR_KEY
from tests.support.gateway_server import GATEWAY_CANARIES, GatewayServer
from tests.support.sandbox_server import SECRET
from tests.support.scripted_model import HttpError, Message, ScriptedModelServer, Stall


def _relay(gateway: GatewayServer, token: str) -> httpx.Client:
    return gateway.client(headers={"Authorization": f"Bearer {token}"})


def _task_token(gateway: GatewayServer, task_id: str | None = None) -> dict[str, Any]:
    return gateway.task_token(
        task_id=task_id or f"t-{uuid.uuid4().hex[:8]}", scopes=["relay:model"]
    )


async def _recorded(store: EventStore, stream_id: str, count: int) -> list[ModelCallRecorded]:
    deadline = time.monotonic() + 15
    while True:
        events = [e.decode() for e in await store.read_stream(stream_id)]
        calls = [e for e in events if isinstance(e, ModelCallRecorded)]
        if len(calls) >= count or time.monotonic() > deadline:
            return calls
        await asyncio.sleep(0.05)


def test_chat_completion_carries_the_vendor_key_upstream_only(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    token = _task_token(gateway)["token"]
    model_upstream.script(Message("hello from upstream"))
    before = len(model_upstream.requests)
    r = _relay(gateway, token).post(
        "/relay/v1/chat/completions",
        json={"model": "scripted-model", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "hello from upstream"
    upstream = model_upstream.requests[before]
    assert upstream.path == "/v1/chat/completions"
    assert upstream.headers["authorization"] == f"Bearer {VENDOR_KEY}"
    assert token not in json.dumps(upstream.headers)
    assert upstream.body["messages"] == [{"role": "user", "content": "hi"}]
    assert VENDOR_KEY not in r.text and VENDOR_KEY not in json.dumps(dict(r.headers))


def test_streamed_responses_pass_through_as_sse(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    token = _task_token(gateway)["token"]
    model_upstream.script(Message("streamed"))
    events = []
    with _relay(gateway, token).stream(
        "POST",
        "/relay/v1/responses",
        json={"model": "gpt-5.5", "input": "hi", "stream": True},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        decoder = SSEDecoder()
        for chunk in r.iter_bytes():
            assert VENDOR_KEY.encode() not in chunk
            events += decoder.feed(chunk)
    kinds = [e.event for e in events]
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert json.loads(events[-1].data)["response"]["usage"]["total_tokens"] == 15


def test_stream_chunks_are_forwarded_before_the_upstream_finishes(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    token = _task_token(gateway)["token"]
    model_upstream.script(Stall(seconds=30))
    try:
        with _relay(gateway, token).stream(
            "POST",
            "/relay/v1/responses",
            json={"model": "scripted-model", "input": "hi", "stream": True},
            timeout=20,
        ) as r:
            decoder = SSEDecoder()
            first: list[Any] = []
            for chunk in r.iter_bytes():
                first += decoder.feed(chunk)
                if first:
                    break
            # The upstream is still holding its stream open: nothing was buffered.
            assert first[0].event == "response.created"
            assert model_upstream.requests[-1].method == "POST"
    finally:
        model_upstream.release()


async def test_each_call_is_recorded_on_the_tasks_relaycalls_stream(
    gateway: GatewayServer, model_upstream: ScriptedModelServer, store: EventStore
) -> None:
    task_id = f"rec-{uuid.uuid4().hex[:8]}"
    issued = _task_token(gateway, task_id)
    client = _relay(gateway, issued["token"])
    assert (
        client.post(
            "/relay/v1/chat/completions", json={"model": "scripted-model", "messages": []}
        ).status_code
        == 200
    )
    with client.stream(
        "POST", "/relay/v1/responses", json={"model": "gpt-5.5", "input": "x", "stream": True}
    ) as r:
        r.read()
    calls = await _recorded(store, f"relaycalls-task-{task_id}", 2)
    assert len(calls) == 2
    plain, streamed = sorted(calls, key=lambda c: c.stream)
    assert plain.endpoint == "chat/completions" and not plain.stream
    assert (plain.input_tokens, plain.output_tokens, plain.total_tokens) == (10, 5, 15)
    assert streamed.endpoint == "responses" and streamed.stream
    assert (streamed.input_tokens, streamed.output_tokens, streamed.total_tokens) == (10, 5, 15)
    for call in calls:
        assert call.task_id == task_id and call.jti == issued["jti"]
        assert call.provider_id == "scripted" and call.outcome == "ok"
        assert call.status_code == 200 and call.latency_ms > 0


async def test_agent_tokens_record_on_the_agents_stream(
    gateway: GatewayServer, store: EventStore
) -> None:
    agent_id = f"agent-{uuid.uuid4().hex[:8]}"
    token = gateway.task_token(agent_id=agent_id, scopes=["relay:model"])["token"]
    r = _relay(gateway, token).post(
        "/relay/v1/chat/completions", json={"model": "scripted-model", "messages": []}
    )
    assert r.status_code == 200
    calls = await _recorded(store, f"relaycalls-agent-{agent_id}", 1)
    assert [c.agent_id for c in calls] == [agent_id]


def test_models_lists_what_the_providers_offer(gateway: GatewayServer) -> None:
    r = _relay(gateway, _task_token(gateway)["token"]).get("/relay/v1/models")
    assert r.status_code == 200
    ids = {m["id"]: m["owned_by"] for m in r.json()["data"]}
    assert ids == {
        "scripted-model": "scripted",
        "gpt-5.5": "scripted",
        "stored-model": "stored",
        "down-model": "down",
    }


@pytest.mark.parametrize(
    ("make_token", "status", "code"),
    [
        pytest.param(lambda gw: None, 401, "unauthorized", id="missing"),
        pytest.param(lambda gw: "hvt.garbage.token", 401, "unauthorized", id="malformed"),
        pytest.param(
            lambda gw: issue(
                "another-secret-" + "x" * 32, scopes=["relay:model"], ttl_s=60, task_id="t"
            )[0],
            401,
            "unauthorized",
            id="foreign-signature",
        ),
        pytest.param(
            lambda gw: issue(
                SECRET, scopes=["relay:model"], ttl_s=60, task_id="t", now=time.time() - 3600
            )[0],
            401,
            "token_expired",
            id="expired",
        ),
        pytest.param(
            lambda gw: gw.task_token(task_id="t-scope", scopes=["sandbox:task:t-scope"])["token"],
            403,
            "token_scope",
            id="wrong-scope",
        ),
        pytest.param(lambda gw: SECRET, 401, "unauthorized", id="internal-secret-is-no-task-token"),
    ],
)
def test_bad_tokens_are_refused(
    gateway: GatewayServer,
    model_upstream: ScriptedModelServer,
    make_token: Any,
    status: int,
    code: str,
) -> None:
    token = make_token(gateway)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    before = len(model_upstream.requests)
    r = gateway.client().post(
        "/relay/v1/chat/completions",
        json={"model": "scripted-model", "messages": []},
        headers=headers,
    )
    assert r.status_code == status
    assert r.json()["code"] == code
    assert len(model_upstream.requests) == before  # nothing reached the provider


def test_revoked_tokens_are_refused(gateway: GatewayServer) -> None:
    issued = _task_token(gateway)
    client = _relay(gateway, issued["token"])
    assert client.get("/relay/v1/models").status_code == 200
    assert gateway.internal().delete(f"/internal/task-tokens/{issued['jti']}").status_code == 204
    r = client.get("/relay/v1/models")
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"


def test_revoking_a_task_revokes_all_its_tokens(gateway: GatewayServer) -> None:
    task_id = f"rv-{uuid.uuid4().hex[:8]}"
    first, second = _task_token(gateway, task_id), _task_token(gateway, task_id)
    bystander = _task_token(gateway)
    r = gateway.internal().post("/internal/task-tokens/revocations", json={"task_id": task_id})
    assert r.status_code == 201 and r.json()["subject"] == f"task:{task_id}"
    for issued in (first, second):
        assert _relay(gateway, issued["token"]).get("/relay/v1/models").status_code == 401
    assert _relay(gateway, bystander["token"]).get("/relay/v1/models").status_code == 200


def test_per_token_rate_limit(gateway: GatewayServer) -> None:
    client = _relay(gateway, _task_token(gateway)["token"])
    statuses = [
        client.get("/relay/v1/models").status_code for _ in range(RELAY_RATE_PER_MINUTE + 3)
    ]
    assert statuses[0] == 200
    assert 429 in statuses
    limited = client.get("/relay/v1/models")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # Another token has its own budget.
    assert _relay(gateway, _task_token(gateway)["token"]).get("/relay/v1/models").status_code == 200


def test_unknown_model_and_unreachable_provider(gateway: GatewayServer) -> None:
    client = _relay(gateway, _task_token(gateway)["token"])
    unknown = client.post("/relay/v1/chat/completions", json={"model": "nope", "messages": []})
    assert unknown.status_code == 404
    down = client.post("/relay/v1/chat/completions", json={"model": "down-model", "messages": []})
    assert down.status_code == 502 and down.json()["code"] == "upstream_error"
    bad = client.post("/relay/v1/chat/completions", content=b"not json")
    assert bad.status_code == 422


def test_upstream_errors_never_echo_the_vendor_key(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    client = _relay(gateway, _task_token(gateway)["token"])
    model_upstream.script(HttpError(401, f"Incorrect API key provided: {VENDOR_KEY}"))
    refused = client.post(
        "/relay/v1/chat/completions", json={"model": "scripted-model", "messages": []}
    )
    # The provider refused the gateway's key: an upstream failure, not the caller's 401.
    assert refused.status_code == 502
    assert VENDOR_KEY not in refused.text
    model_upstream.script(HttpError(500, f"internal error while using {VENDOR_KEY}"))
    failed = client.post(
        "/relay/v1/chat/completions", json={"model": "scripted-model", "messages": []}
    )
    assert failed.status_code == 500
    assert VENDOR_KEY not in failed.text and "[REDACTED]" in failed.text


def test_no_secret_appears_in_any_log_line(
    gateway: GatewayServer, model_upstream: ScriptedModelServer
) -> None:
    # Exercise the paths that handle secrets (login, tokens, relay, errors), then read the log.
    issued = _task_token(gateway)
    client = _relay(gateway, issued["token"])
    client.post("/relay/v1/chat/completions", json={"model": "scripted-model", "messages": []})
    client.post("/relay/v1/chat/completions", json={"model": "down-model", "messages": []})
    gateway.client().post("/api/auth/login", json={"username": "admin", "password": "wrong-one-1"})
    gateway.login().get("/api/auth/me")
    log = gateway.read_log()
    assert len(log.splitlines()) > 20  # DEBUG level: plenty of lines to leak into
    for value in [VENDOR_KEY, SECRET, *GATEWAY_CANARIES.values(), issued["token"]]:
        assert value not in log
    signature = issued["token"].rsplit(".", 1)[1]
    assert signature not in log
    for line in log.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every line the gateway itself writes is one JSON object
