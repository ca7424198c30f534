"""The live objects request handlers use, built by the composition root.

`GatewayRuntime` exists from app creation; `Services` (everything that needs
the database) is attached once startup wiring has completed. Until then the
routes that need it answer 503 `unavailable`, and /healthz says `starting`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.events import EventStore
from hive.gateway.call_records import CallRecorder
from hive.gateway.credentials import CredentialVault
from hive.gateway.dev_task_facade import DevTaskFacade
from hive.gateway.logs import Redactor
from hive.gateway.metrics import GatewayMetrics
from hive.gateway.projects import ProjectRepository
from hive.gateway.rate_limit import TokenBuckets
from hive.gateway.relay import ModelRelay
from hive.gateway.sandbox_client import SandboxClient
from hive.gateway.sessions import SessionKeys, SessionRepository
from hive.gateway.settings import GatewaySettings
from hive.gateway.task_tokens import TaskTokenService
from hive.gateway.throttle import LoginThrottle
from hive.gateway.users import UserRepository
from hive.gateway.workspace_apply import WorkspaceApplier


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
            raise HiveHTTPError(
                503, ErrorCode.UNAVAILABLE, f"gateway is starting (database: {self.db_status})"
            )
        return self.services
