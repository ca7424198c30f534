"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from hive.gateway.platform.openapi_problems import problems
from hive.gateway.runtime import GatewayRuntime
from hive.gateway.tokens.guards import metrics_access


@get(
    "/metrics",
    guards=[metrics_access],
    media_type="text/plain",
    responses=problems(401),
    tags=["operations"],
)
async def metrics(rt: GatewayRuntime) -> Response[str]:
    """Request, relay and login counters (internal secret unless HIVE_METRICS_PUBLIC)."""
    body = rt.metrics.exposition()
    # Text exposition format 0.0.4, which every Prometheus version scrapes.
    response: Response[Any] = Response(content=body, media_type="text/plain; version=0.0.4")
    return response
