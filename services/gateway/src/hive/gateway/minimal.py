"""The minimal gateway: health only, no database, probeable before anything is configured.

`hive.gateway.minimal:app` (`hive serve gateway-minimal`) reads no settings and
opens no connection; it answers `GET /healthz` with `mode: "minimal"` so an
orchestrator can tell the container runs before the full stack exists.
"""

from __future__ import annotations

from litestar import Litestar, get

from hive.contracts.api import GatewayHealth
from hive.contracts.problems import ProblemDetails


@get("/healthz", sync_to_thread=False)
def healthz() -> GatewayHealth:
    """Always ok: this process has nothing else to be ready for."""
    return GatewayHealth(status="ok", mode="minimal", db="not_configured")


app = Litestar(
    route_handlers=[healthz],
    plugins=[ProblemDetails()],
    openapi_config=None,
    logging_config=None,
)
