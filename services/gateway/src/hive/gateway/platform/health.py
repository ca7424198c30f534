"""GET /healthz of the full gateway: cached state only, no I/O in the probe."""

from __future__ import annotations

from litestar import Response, get

from hive.contracts.api import GatewayHealth
from hive.gateway.runtime import GatewayRuntime


@get("/healthz", sync_to_thread=False, opt={"public": True}, tags=["health"])
def healthz(rt: GatewayRuntime) -> Response[GatewayHealth]:
    """`ok` (200) once startup wiring completed and the last DB ping passed; else 503."""
    if rt.services is None:
        status = "starting"
    elif rt.db_status != "ok":
        status = "degraded"
    else:
        status = "ok"
    body = GatewayHealth(
        status=status,  # type: ignore[arg-type]
        mode="full",
        db=rt.db_status,
        agents={"pool_backend": rt.settings.pool_backend, "active": 0, "served": False},
    )
    return Response(body, status_code=200 if status == "ok" else 503)
