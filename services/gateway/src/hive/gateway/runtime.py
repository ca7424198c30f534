"""The live objects request handlers use, built by the composition root.

`GatewayRuntime` exists from app creation; `Services` (everything that needs
the database) is attached once startup wiring has completed. Until then the
routes that need it answer 503 `unavailable`, and /healthz says `starting`.

Handlers receive them through Litestar's dependency injection (`DEPENDENCIES`,
installed on the app): a parameter named `rt` is the runtime, `services` the
wired services; a domain package may provide narrower ones (its repository)
the same way. Guards, which Litestar does not inject into, use `runtime_of`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from litestar.connection import ASGIConnection
from litestar.di import Provide

from hive.contracts.logs import Redactor
from hive.events import EventStore
from hive.gateway.credentials.vault import CredentialVault
from hive.gateway.dev_tasks.facade import DevTaskFacade
from hive.gateway.dev_tasks.sandbox_client import SandboxClient
from hive.gateway.dev_tasks.workspace_apply import WorkspaceApplier
from hive.gateway.errors import Unavailable
from hive.gateway.operators.sessions import SessionKeys, SessionRepository
from hive.gateway.operators.throttle import LoginThrottle
from hive.gateway.operators.users import UserRepository
from hive.gateway.platform.metrics import GatewayMetrics
from hive.gateway.projects.repository import ProjectRepository
from hive.gateway.relay.call_records import CallRecorder
from hive.gateway.relay.model_relay import ModelRelay
from hive.gateway.relay.rate_limit import TokenBuckets
from hive.gateway.settings import GatewaySettings
from hive.gateway.tokens.service import TaskTokenService


@dataclass(slots=True)
class Services:
    """Everything backed by the database."""

    pool: asyncpg.Pool
    store: EventStore
    users: UserRepository
    sessions: SessionRepository
    projects: ProjectRepository
    tokens: TaskTokenService
    vault: CredentialVault
    recorder: CallRecorder
    relay: ModelRelay
    dev_tasks: DevTaskFacade
    workspace_apply: WorkspaceApplier


@dataclass(slots=True)
class GatewayRuntime:
    """Settings, process-local state, and the services once wired."""

    settings: GatewaySettings
    redactor: Redactor
    metrics: GatewayMetrics
    session_keys: SessionKeys
    throttle: LoginThrottle
    buckets: TokenBuckets
    sandbox: SandboxClient | None = None
    services: Services | None = None
    db_status: str = "connecting"
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    def require(self) -> Services:
        """The wired services, or a 503 while startup is still in progress."""
        if self.services is None:
            raise Unavailable(f"gateway is starting (database: {self.db_status})")
        return self.services


def runtime_of(connection: ASGIConnection[Any, Any, Any, Any]) -> GatewayRuntime:
    """The app's runtime (for guards; handlers take `rt`)."""
    rt: GatewayRuntime = connection.app.state.runtime
    return rt


def _provide_runtime(request: ASGIConnection[Any, Any, Any, Any]) -> GatewayRuntime:
    return runtime_of(request)


def _provide_services(rt: GatewayRuntime) -> Services:
    return rt.require()


DEPENDENCIES = {
    "rt": Provide(_provide_runtime, sync_to_thread=False),
    "services": Provide(_provide_services, sync_to_thread=False),
}
"""App-level dependencies: `rt` (always) and `services` (503 until wired)."""
