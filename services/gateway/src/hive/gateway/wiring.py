"""Startup wiring: database, schema, the domain services, the bootstrap admin.

Everything here may fail at startup (a `StartupError` names the setting to
fix). The composition root (`main`) calls `wire` from the lifespan, strictly or
with retries; this is the only place that picks backends from settings.
"""

from __future__ import annotations

import logging

from hive.events import EventStore
from hive.gateway.credentials.vault import CredentialUnreadable, CredentialVault
from hive.gateway.dev_tasks.admission import BackendAdmission
from hive.gateway.dev_tasks.facade import DevTaskFacade
from hive.gateway.dev_tasks.workspace_apply import WorkspaceApplier
from hive.gateway.dev_tasks.workspace_seed import sandbox_shares_filesystem
from hive.gateway.operators.sessions import SessionRepository
from hive.gateway.operators.users import UserRepository
from hive.gateway.platform.startup import bootstrap_admin, connect, prepare_schema
from hive.gateway.projects.repository import ProjectRepository
from hive.gateway.relay.call_records import CallRecorder
from hive.gateway.relay.model_relay import ModelRelay
from hive.gateway.runtime import GatewayRuntime, Services
from hive.gateway.tokens.service import TaskTokenService

log = logging.getLogger("hive.gateway")


async def wire(rt: GatewayRuntime) -> Services:
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
