"""Composition root of the full gateway: settings -> logging -> plugins -> routes.

`hive.gateway.main:app` is what granian serves (`hive serve gateway`). The
app is built on first access, so importing this module never reads the
environment. The lifespan (`platform.lifespan`) wires the database and the
domain services (`wiring.wire`); each domain package contributes its routes
(`<domain>/controller.py`) and the dependencies its handlers take.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware

from hive.contracts.hardening import make_non_dumpable, take_secrets
from hive.contracts.logs import Redactor, configure_logging
from hive.contracts.problems import ProblemDetails
from hive.contracts.serving import served_app
from hive.contracts.settings import refuse_to_start
from hive.events import DRIVER_ERRORS
from hive.gateway.agents.api import AgentsController
from hive.gateway.agents.feature import AgentsFeature
from hive.gateway.agents.internal_api import AgentInternalController
from hive.gateway.agents.wiring import agents_lifespan
from hive.gateway.credentials import controller as credentials
from hive.gateway.dev_tasks import apply_controller as workspace_apply
from hive.gateway.dev_tasks import controller as dev_tasks
from hive.gateway.operators import controller as operators
from hive.gateway.operators.sessions import SessionKeys
from hive.gateway.operators.throttle import LoginThrottle
from hive.gateway.platform import health, reference
from hive.gateway.platform import metrics_controller as metrics
from hive.gateway.platform.lifespan import gateway_lifespan
from hive.gateway.platform.metrics import GatewayMetrics, ObservabilityMiddleware
from hive.gateway.platform.openapi import openapi_config
from hive.gateway.pools.settings import AgentPoolSettings
from hive.gateway.projects import controller as projects
from hive.gateway.relay import controller as relay
from hive.gateway.relay.rate_limit import TokenBuckets
from hive.gateway.runtime import DEPENDENCIES, GatewayRuntime
from hive.gateway.schedules.api import SchedulesController
from hive.gateway.settings import GatewaySettings, SettingsError
from hive.gateway.tokens import controller as tokens
from hive.gateway.wiring import wire


def _settings() -> GatewaySettings:
    try:
        settings = GatewaySettings.from_env()
    except SettingsError as exc:
        refuse_to_start("gateway", exc)
    # Read once: nothing this process spawns inherits them; no core, no /proc/<pid>/mem.
    make_non_dumpable()
    take_secrets(settings.secret_env_names())
    return settings


def create_app(
    settings: GatewaySettings | None = None,
    *,
    configure_logs: bool = True,
    pool_settings: AgentPoolSettings | None = None,
) -> Litestar:
    """Build the gateway (tests pass their own settings)."""
    try:
        pool_settings = pool_settings or AgentPoolSettings.from_env()
    except SettingsError as exc:
        refuse_to_start("gateway", exc)
    settings = settings or _settings()
    redactor = Redactor(settings.secret_values())
    if configure_logs:
        configure_logging(redactor, settings.log_level)
    metrics_registry = GatewayMetrics()
    runtime = GatewayRuntime(
        settings=settings,
        redactor=redactor,
        metrics=metrics_registry,
        session_keys=SessionKeys(settings.session_secret),
        throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
        buckets=TokenBuckets(settings.relay_rate_per_minute),
    )
    # Mounted only when configured: without a token there is nothing to accept.
    apply_routes = (
        [workspace_apply.router(settings.workspace_apply_max_bytes)]
        if settings.workspace_apply_token is not None
        else []
    )
    return Litestar(
        route_handlers=[
            health.healthz,
            health.readyz,
            operators.login,
            metrics.metrics,
            operators.operator_router(
                operators.logout,
                operators.me,
                projects.router(),
                credentials.router(),
                dev_tasks.router(),
                AgentsController,
                SchedulesController,
            ),
            tokens.router(),
            relay.router(),
            *apply_routes,
            AgentInternalController,
            reference.assets_router(),
        ],
        dependencies=DEPENDENCIES,
        plugins=[ProblemDetails(DRIVER_ERRORS)],
        # Entered in order, left in reverse: agents stop before the database closes.
        lifespan=[gateway_lifespan(wire), agents_lifespan],
        middleware=[
            DefineMiddleware(
                ObservabilityMiddleware,
                metrics=metrics_registry,
                access_log_enabled=settings.access_log,
            )
        ],
        state=State({"runtime": runtime, "agents": AgentsFeature(settings=pool_settings)}),
        openapi_config=openapi_config(),
        logging_config=None,
    )


# `app` (granian's target) is built on first access, once: see hive.contracts.serving.
__getattr__ = served_app(create_app)
