"""The full gateway's probes: cached state only, no I/O in either.

`/healthz` is liveness: 200 once startup wiring completed, even while the last
database ping failed (`status: degraded`), so an orchestrator never restarts a
gateway for a database outage it cannot cure. `/readyz` is readiness: 200 only
while the database answers too, so the gateway leaves its Service during an
outage and returns when the ping passes again. Both carry the same body.
"""

from __future__ import annotations

from litestar import Response, get

from hive.contracts.api import GatewayHealth
from hive.gateway.runtime import GatewayRuntime


def _health(rt: GatewayRuntime) -> GatewayHealth:
    if rt.services is None:
        status = "starting"
    elif rt.db_status != "ok":
        status = "degraded"
    else:
        status = "ok"
    return GatewayHealth(
        status=status,  # type: ignore[arg-type]
        mode="full",
        db=rt.db_status,
        agents={"pool_backend": rt.settings.pool_backend, "active": 0, "served": False},
    )


@get("/healthz", sync_to_thread=False, opt={"public": True}, tags=["health"])
def healthz(rt: GatewayRuntime) -> Response[GatewayHealth]:
    """Liveness: 200 once wired (`ok` or `degraded`); 503 while still `starting`."""
    body = _health(rt)
    return Response(body, status_code=503 if body.status == "starting" else 200)


@get("/readyz", sync_to_thread=False, opt={"public": True}, tags=["health"])
def readyz(rt: GatewayRuntime) -> Response[GatewayHealth]:
    """Readiness: 200 only when wired and the last database ping passed; else 503."""
    body = _health(rt)
    return Response(body, status_code=200 if body.status == "ok" else 503)
