"""/relay/v1/...: the OpenAI-compatible model relay (task token with `relay:model`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.response import Stream

from hive.gateway.platform.openapi_problems import problems
from hive.gateway.relay.guards import relay_claims, relay_token
from hive.gateway.relay.model_relay import Endpoint, ModelRelay
from hive.gateway.runtime import Services

RELAY_PROBLEMS = problems(401, 403, 404, 422, 429, 502, 503)


async def _forward(
    request: Request[Any, Any, Any], relay: ModelRelay, endpoint: Endpoint
) -> Response[Any]:
    answer = await relay.call(
        endpoint, await request.body(), relay_claims(request), request.headers
    )
    if answer.chunks is not None:
        return Stream(
            answer.chunks,
            status_code=answer.status,
            media_type=answer.content_type,
            headers=answer.headers,
        )
    return Response(content=answer.body, status_code=answer.status, media_type=answer.content_type)


@post("/relay/v1/chat/completions", status_code=200, responses=RELAY_PROBLEMS, tags=["relay"])
async def chat_completions(
    request: Request[Any, Any, Any], relay: ModelRelay
) -> Response[dict[str, Any]]:
    """OpenAI chat completions, forwarded with the provider key; SSE when `stream: true`."""
    return await _forward(request, relay, "chat/completions")


@post("/relay/v1/responses", status_code=200, responses=RELAY_PROBLEMS, tags=["relay"])
async def responses(request: Request[Any, Any, Any], relay: ModelRelay) -> Response[dict[str, Any]]:
    """OpenAI Responses API, forwarded with the provider key; SSE when `stream: true`."""
    return await _forward(request, relay, "responses")


@get("/relay/v1/models", responses=problems(401, 403, 429, 503), tags=["relay"])
async def models(relay: ModelRelay) -> Response[dict[str, Any]]:
    """The models the configured providers offer."""
    doc = relay.models_document
    response: Response[Any] = Response(content=doc, media_type="application/json")
    return response


def _relay(services: Services) -> ModelRelay:
    return services.relay


def router() -> Router:
    """/relay/v1 behind a task token with `relay:model`."""
    return Router(
        path="/",
        guards=[relay_token],
        # Agent transcripts grow long; the provider, not the gateway, sets the real limit.
        request_max_body_size=64 * 1024 * 1024,
        security=[{"taskToken": []}],
        dependencies={"relay": Provide(_relay, sync_to_thread=False)},
        route_handlers=[chat_completions, responses, models],
    )
