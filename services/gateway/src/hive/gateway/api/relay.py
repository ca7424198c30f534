"""/relay/v1/...: the OpenAI-compatible model relay (task token with `relay:model`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Stream

from hive.gateway.api.docs import problems
from hive.gateway.auth import relay_claims, runtime_of
from hive.gateway.relay import Endpoint

RELAY_PROBLEMS = problems(401, 403, 404, 422, 429, 502, 503)


async def _forward(request: Request[Any, Any, Any], endpoint: Endpoint) -> Response[Any]:
    relay = runtime_of(request).require().relay
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
async def chat_completions(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """OpenAI chat completions, forwarded with the provider key; SSE when `stream: true`."""
    return await _forward(request, "chat/completions")


@post("/relay/v1/responses", status_code=200, responses=RELAY_PROBLEMS, tags=["relay"])
async def responses(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """OpenAI Responses API, forwarded with the provider key; SSE when `stream: true`."""
    return await _forward(request, "responses")


@get("/relay/v1/models", responses=problems(401, 403, 429, 503), tags=["relay"])
async def models(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The models the configured providers offer."""
    doc = runtime_of(request).require().relay.models_document
    response: Response[Any] = Response(content=doc, media_type="application/json")
    return response
