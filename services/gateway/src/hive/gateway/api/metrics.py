"""GET /metrics: Prometheus text format."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from hive.gateway.api.docs import problems
from hive.gateway.auth import metrics_access, runtime_of


@get("/metrics", guards=[metrics_access], responses=problems(401), tags=["operations"])
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Request, relay and login counters (internal secret unless HIVE_METRICS_PUBLIC)."""
    body = runtime_of(request).metrics.exposition()
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
