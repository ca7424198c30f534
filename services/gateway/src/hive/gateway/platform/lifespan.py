"""The full gateway's lifespan: wire (strictly or with retries), background tasks, drain.

Startup is strict by default (`HIVE_STRICT_STARTUP=true`): a weak or missing
secret, an unreachable database or a schema that does not satisfy
`HIVE_STARTUP_MIGRATION_MODE` stops the process with a non-zero exit and one
line on stderr naming the setting. Outside strict mode (`hive dev`) the gateway
serves /healthz as `starting` and keeps retrying the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from litestar import Litestar

from hive.contracts.retries import backoff
from hive.contracts.settings import EXIT_REFUSED
from hive.gateway.dev_tasks.sandbox_client import SandboxClient
from hive.gateway.platform.draining import watch_shutdown_signals
from hive.gateway.platform.startup import StartupError
from hive.gateway.runtime import GatewayRuntime, Services

log = logging.getLogger("hive.gateway")

DB_PING_INTERVAL_S = 5.0
PRUNE_INTERVAL_S = 600.0

Wire = Callable[[GatewayRuntime], Awaitable[Services]]


def refuse(reason: str) -> None:
    """Stop the process: one line on stderr, non-zero exit, no traceback."""
    print(f"hive gateway: refusing to start: {reason}", file=sys.stderr, flush=True)
    # os._exit, not SystemExit: raised inside the ASGI lifespan, SystemExit becomes
    # an exception-group traceback from Litestar and granian; the contract is one line.
    os._exit(EXIT_REFUSED)


async def _ping_database(rt: GatewayRuntime) -> None:
    """Keep /healthz's `db` field fresh without doing I/O inside the probe."""
    while True:
        await asyncio.sleep(DB_PING_INTERVAL_S)
        services = rt.services
        if services is None:
            continue
        try:
            async with asyncio.timeout(2.0), services.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            rt.db_status = "ok"
        except (OSError, TimeoutError, Exception) as exc:  # any failure means unhealthy
            rt.db_status = f"unavailable: {type(exc).__name__}"


async def _prune(rt: GatewayRuntime) -> None:
    """Drop expired sessions and useless revocation rows now and then."""
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_S)
        if rt.services is None:
            continue
        try:
            await rt.services.sessions.prune()
            await rt.services.tokens.prune()
        except Exception:  # pruning is housekeeping; the next round retries
            log.exception("pruning sessions/revocations failed")


def _start_draining(rt: GatewayRuntime) -> Callable[[], None]:
    def start() -> None:
        log.info("shutdown signal: draining (open event streams end now)")
        rt.draining.set()

    return start


async def _wire_with_retries(rt: GatewayRuntime, wire: Wire) -> None:
    def waiting(exc: BaseException, delay: float) -> None:
        rt.db_status = f"unavailable: {getattr(exc, 'setting', exc)}"
        log.error("startup wiring failed (retrying in %.0fs): %s", delay, exc)

    async for attempt in backoff(StartupError, first_s=1.0, max_s=15.0, on_retry=waiting):
        with attempt:
            rt.services = await wire(rt)
    rt.db_status = "ok"


def gateway_lifespan(
    wire: Wire,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """The lifespan that wires with `wire` and tears everything down on stop."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        rt: GatewayRuntime = app.state.runtime
        settings = rt.settings
        rt.draining = asyncio.Event()
        if not watch_shutdown_signals(asyncio.get_running_loop(), _start_draining(rt)):
            log.warning("not in the main thread: open event streams end only at the kill timeout")
        for warning in settings.warnings:
            log.warning("%s", warning)
        for name in settings.generated_secrets:
            log.warning("%s is not set: a random value is used for this process only", name)
        rt.sandbox = SandboxClient(settings.sandbox_url, settings.internal_secret)
        if settings.strict:
            try:
                rt.services = await wire(rt)
            except StartupError as exc:
                refuse(rt.redactor.redact(str(exc)))
            rt.db_status = "ok"
        else:
            rt.background.append(
                asyncio.create_task(_wire_with_retries(rt, wire), name="gateway-wiring")
            )
        rt.background.append(asyncio.create_task(_ping_database(rt), name="gateway-db-ping"))
        rt.background.append(asyncio.create_task(_prune(rt), name="gateway-prune"))
        try:
            yield
        finally:
            await _stop(rt)

    return lifespan


async def _stop(rt: GatewayRuntime) -> None:
    rt.draining.set()
    for task in rt.background:
        task.cancel()
    for task in rt.background:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    services, rt.services = rt.services, None
    if services is not None:
        await services.recorder.stop()
        await services.relay.aclose()
        await services.pool.close()
    if rt.sandbox is not None:
        await rt.sandbox.aclose()
    log.info("gateway stopped")
