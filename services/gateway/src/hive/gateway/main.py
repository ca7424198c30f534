"""Composition root of the full gateway: settings -> logging -> wiring -> routes.

`hive.gateway.main:app` is what granian serves (`hive serve gateway`). The
app is built on first access, so importing this module never reads the
environment. Startup is strict by default (`HIVE_STRICT_STARTUP=true`): a
weak or missing secret, an unreachable database or a schema that does not
satisfy `HIVE_STARTUP_MIGRATION_MODE` stops the process with a non-zero exit
and one line on stderr naming the setting. Outside strict mode (`hive dev`)
the gateway serves /healthz as `starting` and keeps retrying the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response, Router
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from hive.contracts.errors import ErrorCode
from hive.contracts.hardening import make_non_dumpable, take_secrets
from hive.contracts.http import EXCEPTION_HANDLERS, problem_response
from hive.events import EventStore
from hive.gateway.api import auth as auth_api
from hive.gateway.api import credentials as credentials_api
from hive.gateway.api import dev_tasks as dev_tasks_api
from hive.gateway.api import health as health_api
from hive.gateway.api import internal as internal_api
from hive.gateway.api import metrics as metrics_api
from hive.gateway.api import projects as projects_api
from hive.gateway.api import reference as reference_api
from hive.gateway.api import relay as relay_api
from hive.gateway.api import workspace_apply as workspace_apply_api
from hive.gateway.api.reference import LocalSwaggerPage
from hive.gateway.auth import (
    internal_secret,
    operator_session,
    relay_token,
    workspace_apply_token,
)
from hive.gateway.backend_admission import BackendAdmission
from hive.gateway.call_records import CallRecorder
from hive.gateway.credentials import CredentialUnreadable, CredentialVault
from hive.gateway.dev_task_facade import DevTaskFacade
from hive.gateway.draining import watch_shutdown_signals
from hive.gateway.logs import Redactor, configure_logging
from hive.gateway.metrics import GatewayMetrics, ObservabilityMiddleware
from hive.gateway.projects import ProjectRepository
from hive.gateway.rate_limit import TokenBuckets
from hive.gateway.relay import ModelRelay
from hive.gateway.runtime import GatewayRuntime, Services
from hive.gateway.sandbox_client import SandboxClient
from hive.gateway.sessions import SESSION_COOKIE, SessionKeys, SessionRepository
from hive.gateway.settings import GatewaySettings, SettingsError
from hive.gateway.startup import StartupError, bootstrap_admin, connect, prepare_schema
from hive.gateway.task_tokens import TaskTokenService
from hive.gateway.throttle import LoginThrottle
from hive.gateway.users import UserRepository
from hive.gateway.workspace_apply import WorkspaceApplier
from hive.gateway.workspace_seed import sandbox_shares_filesystem

log = logging.getLogger("hive.gateway")

EXIT_REFUSED = 3
DB_PING_INTERVAL_S = 5.0
PRUNE_INTERVAL_S = 600.0


def refuse(reason: str) -> None:
    """Stop the process: one line on stderr, non-zero exit, no traceback."""
    print(f"hive gateway: refusing to start: {reason}", file=sys.stderr, flush=True)
    # os._exit, not SystemExit: raised inside the ASGI lifespan, SystemExit becomes
    # an exception-group traceback from Litestar and granian; the contract is one line.
    os._exit(EXIT_REFUSED)


async def _wire(rt: GatewayRuntime) -> Services:
    """Database, schema, services, bootstrap admin: everything that may fail at startup."""
    settings = rt.settings
    pool = await connect(settings)
    try:
        schema = await prepare_schema(settings)
        store = EventStore(pool)
        vault = CredentialVault(settings.credential_key, pool, rt.redactor)

        async def stored_key(provider_id: str) -> str | None:
            try:
                return await vault.reveal("provider", provider_id)
            except CredentialUnreadable as exc:
                log.error("stored provider key unusable: %s", exc)
                return None

        recorder = CallRecorder(store)
        projects = ProjectRepository(pool)
        assert rt.sandbox is not None
        services = Services(
            pool=pool,
            store=store,
            users=UserRepository(pool),
            sessions=SessionRepository(pool, rt.session_keys, settings.session_ttl_s),
            projects=projects,
            tokens=TaskTokenService(
                settings.internal_secret,
                pool,
                default_ttl_s=settings.token_default_ttl_s,
                max_ttl_s=settings.token_max_ttl_s,
            ),
            vault=vault,
            recorder=recorder,
            relay=ModelRelay(
                settings.providers,
                stored_key=stored_key,
                recorder=recorder,
                metrics=rt.metrics,
                timeout_s=settings.relay_timeout_s,
            ),
            dev_tasks=DevTaskFacade(
                rt.sandbox,
                seed_with_archive=not sandbox_shares_filesystem(
                    settings.sandbox_workspace, settings.sandbox_url
                ),
                archive_max_bytes=settings.seed_archive_max_bytes,
                draining=rt.draining,
                admission=BackendAdmission(rt.sandbox, relay_configured=bool(settings.providers)),
            ),
            workspace_apply=WorkspaceApplier(projects, store, rt.metrics),
        )
        if await bootstrap_admin(settings, services.users):
            log.info("bootstrap operator 'admin' created")
    except BaseException:
        await pool.close()
        raise
    recorder.start()
    log.info("gateway wired: %s; sandbox %s", schema, settings.sandbox_url)
    return services


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


async def _wire_with_retries(rt: GatewayRuntime) -> None:
    delay = 1.0
    while rt.services is None:
        try:
            rt.services = await _wire(rt)
            rt.db_status = "ok"
        except StartupError as exc:
            rt.db_status = f"unavailable: {exc.setting}"
            log.error("startup wiring failed (retrying in %.0fs): %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Wire the database (strictly or with retries), run background tasks, drain on stop."""
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
            rt.services = await _wire(rt)
        except StartupError as exc:
            refuse(rt.redactor.redact(str(exc)))
        rt.db_status = "ok"
    else:
        rt.background.append(asyncio.create_task(_wire_with_retries(rt), name="gateway-wiring"))
    rt.background.append(asyncio.create_task(_ping_database(rt), name="gateway-db-ping"))
    rt.background.append(asyncio.create_task(_prune(rt), name="gateway-prune"))
    try:
        yield
    finally:
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
        await rt.sandbox.aclose()
        log.info("gateway stopped")


def _unstorable(request: Request[Any, Any, Any], exc: asyncpg.DataError) -> Response[Any]:
    # PostgreSQL refused a value (a NUL in text, an out-of-range number): the
    # caller's input, not a server fault. Translated once, at the adapter edge.
    return problem_response(
        422,
        ErrorCode.VALIDATION_FAILED,
        f"a value cannot be stored: {type(exc).__name__}",
        instance=request.url.path,
    )


def _database_down(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The database went away after startup: a temporary 503, not a server bug.
    log.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    return problem_response(
        503, ErrorCode.UNAVAILABLE, "database unavailable", instance=request.url.path
    )


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="OpenHive gateway",
        version="0.1.0",
        path="/schema",
        description=(
            "The OpenHive gateway: operator sessions, projects, project-scoped Work Runs "
            "(dev tasks), task tokens and the model relay. This document is `/schema` "
            "(also `/schema/openapi.json`, `/schema/openapi.yaml`); the readable page is "
            "`/schema/swagger`, served with local assets."
        ),
        render_plugins=[
            JsonRenderPlugin(path=["/", "/openapi.json"]),
            YamlRenderPlugin(),
            LocalSwaggerPage(),
        ],
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                "operatorSession": SecurityScheme(
                    type="apiKey",
                    name=SESSION_COOKIE,
                    security_scheme_in="cookie",
                    description="Session cookie from POST /api/auth/login; state-changing "
                    "methods also need the X-CSRFToken header (value of the csrftoken cookie).",
                ),
                "internalSecret": SecurityScheme(
                    type="apiKey", name="X-Internal-Secret", security_scheme_in="header"
                ),
                "taskToken": SecurityScheme(
                    type="http", scheme="bearer", description="A task token (hvt.…)"
                ),
                "workspaceApplyToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="HIVE_WORKSPACE_APPLY_RELAY_TOKEN (the sandbox's apply-back relay)",
                ),
            }
        ),
    )


def create_app(settings: GatewaySettings | None = None, *, configure_logs: bool = True) -> Litestar:
    """Build the gateway (tests pass their own settings)."""
    if settings is None:
        try:
            settings = GatewaySettings.from_env()
        except SettingsError as exc:
            print(f"hive gateway: refusing to start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_REFUSED) from None
        # Read once: nothing this process spawns inherits them; no core, no /proc/<pid>/mem.
        make_non_dumpable()
        take_secrets(settings.secret_env_names())
    redactor = Redactor(settings.secret_values())
    if configure_logs:
        configure_logging(redactor, settings.log_level)
    metrics = GatewayMetrics()
    runtime = GatewayRuntime(
        settings=settings,
        redactor=redactor,
        metrics=metrics,
        session_keys=SessionKeys(settings.session_secret),
        throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
        buckets=TokenBuckets(settings.relay_rate_per_minute),
    )
    operator_routes = Router(
        path="/",
        guards=[operator_session],
        security=[{"operatorSession": []}],
        route_handlers=[
            auth_api.logout,
            auth_api.me,
            projects_api.list_projects,
            projects_api.create_project,
            projects_api.get_project,
            credentials_api.list_credentials,
            credentials_api.create_credential,
            credentials_api.replace_credential,
            credentials_api.delete_credential,
            dev_tasks_api.router,
        ],
    )
    internal_routes = Router(
        path="/",
        guards=[internal_secret],
        security=[{"internalSecret": []}],
        route_handlers=[
            internal_api.issue_task_token,
            internal_api.revoke_task_token,
            internal_api.revoke_subject_tokens,
        ],
    )
    relay_routes = Router(
        path="/",
        guards=[relay_token],
        # Agent transcripts grow long; the provider, not the gateway, sets the real limit.
        request_max_body_size=64 * 1024 * 1024,
        security=[{"taskToken": []}],
        route_handlers=[relay_api.chat_completions, relay_api.responses, relay_api.models],
    )
    apply_routes = []
    if settings.workspace_apply_token is not None:
        # Mounted only when configured: without a token there is nothing to accept.
        apply_routes.append(
            Router(
                path="/",
                guards=[workspace_apply_token],
                request_max_body_size=settings.workspace_apply_max_bytes,
                security=[{"workspaceApplyToken": []}],
                route_handlers=[workspace_apply_api.workspace_apply],
            )
        )
    return Litestar(
        route_handlers=[
            health_api.healthz,
            auth_api.login,
            metrics_api.metrics,
            operator_routes,
            internal_routes,
            relay_routes,
            *apply_routes,
            reference_api.assets_router(),
        ],
        lifespan=[lifespan],
        exception_handlers={
            **EXCEPTION_HANDLERS,
            asyncpg.DataError: _unstorable,
            asyncpg.PostgresConnectionError: _database_down,
            asyncpg.InterfaceError: _database_down,
            ConnectionError: _database_down,
        },
        middleware=[
            DefineMiddleware(
                ObservabilityMiddleware, metrics=metrics, access_log_enabled=settings.access_log
            )
        ],
        state=State({"runtime": runtime}),
        openapi_config=_openapi(),
        logging_config=None,
    )


_app: Litestar | None = None


def __getattr__(name: str) -> Any:
    # `hive.gateway.main:app` is built on first access (granian's import), once.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
