"""GET /healthz: cheap, no side effects, no auth."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from hive.contracts.api import SandboxHealth


@get("/healthz", sync_to_thread=False, opt={"public": True})
def healthz(request: Request[Any, Any, Any]) -> SandboxHealth:
    """Role, database state seen at startup, coding backend facts and usable backends (cached)."""
    state = request.app.state
    return SandboxHealth(
        status="ok" if state.get("ready") else "starting",
        db=state.get("db_status", "unknown"),
        coding_backend=state.settings.coding_backend,
        codex=state.get("codex_info"),
        worker=state.get("worker_status"),
        confinement=c.status.as_health() if (c := state.get("confinement")) else None,
        backends=state.get("backends_info"),
    )
