"""Liveness and readiness of the full gateway through a real database outage.

The outage is real: the gateway's own database stops accepting connections
(`ALLOW_CONNECTIONS false`) and its sessions are terminated, so the gateway's
next ping fails exactly as it would when PostgreSQL goes away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from tests.support.gateway_server import GatewayServer

OUTAGE_DEADLINE_S = 30.0  # a few of the gateway's 5 s database pings


def _probe_until(url: str, path: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + OUTAGE_DEADLINE_S
    while True:
        r = httpx.get(url + path, timeout=2)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


async def _allow_connections(server_url: str, database: str, allow: bool) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                database,
            )
    finally:
        await conn.close()


async def test_a_database_outage_makes_the_gateway_unready_but_never_unhealthy(
    server_url: str, empty_database: Callable[[], str], tmp_path: Path
) -> None:
    url = empty_database()
    database = urlsplit(url).path.lstrip("/")
    gw = GatewayServer.start(url, tmp=tmp_path, env={"HIVE_METADATA_CREATE_ON_STARTUP": "true"})
    try:
        ready = httpx.get(gw.url + "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert ready.json() == httpx.get(gw.url + "/healthz").json()

        await _allow_connections(server_url, database, allow=False)
        unready = _probe_until(gw.url, "/readyz", 503)
        assert unready.status_code == 503, unready.text
        assert unready.json()["status"] == "degraded"
        alive = httpx.get(gw.url + "/healthz")
        assert alive.status_code == 200 and alive.json()["status"] == "degraded"

        await _allow_connections(server_url, database, allow=True)
        back = _probe_until(gw.url, "/readyz", 200)
        assert back.status_code == 200 and back.json()["db"] == "ok"
    finally:
        await _allow_connections(server_url, database, allow=True)
        assert gw.stop() == 0
