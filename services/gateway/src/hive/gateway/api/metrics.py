"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from hive.gateway.api.docs import problems
from hive.gateway.auth import metrics_access, runtime_of


@get(
    "/metrics",
    guards=[metrics_access],
    media_type="text/plain",
    responses=problems(401),
    tags=["operations"],
)
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Request, relay and login counters (internal secret unless HIVE_METRICS_PUBLIC)."""
    body = runtime_of(request).metrics.exposition()
    # Text exposition format 0.0.4, which every Prometheus version scrapes.
    response: Response[Any] = Response(content=body, media_type="text/plain; version=0.0.4")
    return response
