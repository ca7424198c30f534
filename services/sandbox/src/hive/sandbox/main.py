"""Composition root of the sandbox: settings -> database -> services -> routes.

The only place that picks backends from settings. `app` is what granian serves
(`hive serve sandbox`); startup fails fast, with one line naming the reason,
when the settings are invalid or the database cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import sysconfig
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

from litestar import Litestar, Router
from litestar.datastructures import State

import hive
from hive.contracts.hardening import make_non_dumpable, take_secrets
from hive.contracts.logs import Redactor, configure_logging
from hive.contracts.problems import ProblemDetails
from hive.contracts.serving import served_app
from hive.contracts.settings import refuse_to_start
from hive.events import DRIVER_ERRORS, EventStore, create_pool
from hive.events.database import redact
from hive.sandbox.api import health
from hive.sandbox.api.commands import CommandsController
from hive.sandbox.api.dev_tasks import DevTaskController
from hive.sandbox.api.input_checks import refuse_nul
from hive.sandbox.auth import authenticated
from hive.sandbox.backends.readiness import backend_readiness
from hive.sandbox.codex import install as codex_install
from hive.sandbox.commands import (
    CommandRecords,
    CommandsConfig,
    GovernedCommands,
    Instance,
    ResourceLimits,
    default_policy,
)
from hive.sandbox.commands.records import create_commands_pool
from hive.sandbox.confinement import (
    Confinement,
    ConfinementUnavailable,
    toolchain_paths,
)
from hive.sandbox.environment import base_path
from hive.sandbox.revocations import RevocationCheck
from hive.sandbox.settings import SandboxSettings
from hive.sandbox.storage import SandboxStorage
from hive.sandbox.workruns.governed import GovernedCommandRunner
from hive.sandbox.workruns.runtime import archive_limits, start_work_runs
from hive.sandbox.workruns.service import AfterApprove

log = logging.getLogger("hive.sandbox")
SECRET_SETTINGS = (
    "DATABASE_URL",
    "HIVE_INTERNAL_SECRET",
    "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN",
)
"""Taken out of the environment once read (provider keys of HIVE_SANDBOX_CODEX_AUTH_MODE=env
stay: they are read per attempt, and only the allowlist reaches Codex)."""


def _fail(reason: str) -> NoReturn:
    refuse_to_start("sandbox", reason)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Connect the database, then start the services (and stop them in reverse)."""
    settings: SandboxSettings = app.state.settings
    # Before anything reads a secret into memory: no core, no /proc/<pid>/mem or
    # environ, no ptrace of this process without CAP_SYS_PTRACE.
    confinement = build_confinement(settings, services_non_dumpable=make_non_dumpable())
    try:
        confinement.require()
    except ConfinementUnavailable as exc:
        _fail(str(exc))
    app.state.confinement = confinement
    if not confinement.status.in_force:
        log.warning("governed processes are NOT fully confined: %s", confinement.status.missing)
    if settings.database_url is None:
        _fail("DATABASE_URL is required (task metadata and events are persisted)")
    assert settings.database_url is not None
    try:
        pool = await create_pool(settings.database_url, min_size=1, max_size=10)
    except (OSError, Exception) as exc:  # asyncpg raises many kinds on connect
        _fail(f"cannot reach the database at {redact(settings.database_url)}: {exc}")
        raise
    app.state.pool = pool
    app.state.store = EventStore(pool)
    app.state.revocations = RevocationCheck(pool, ttl_s=settings.token_revocation_cache_s)
    app.state.db_status = "ok"
    # Probed once (a `codex --version` subprocess); /healthz shows the cached result.
    codex = await asyncio.to_thread(codex_install.probe, settings.codex.bin)
    app.state.codex_info = codex.as_health()
    readiness = backend_readiness(settings, codex)
    app.state.backends_info = {name: v.as_health() for name, v in readiness.items()}
    storage = SandboxStorage(settings.root)
    app.state.storage = storage
    commands_pool = await create_commands_pool(
        settings.database_url, sync_commit=settings.command_sync_commit
    )
    commands = build_commands(settings, storage, EventStore(commands_pool), confinement)
    app.state.commands = commands
    await commands.open()  # marks commands of a dead predecessor `lost`
    workruns = await start_work_runs(
        settings,
        app.state.store,
        commands=GovernedCommandRunner(commands),
        confinement=confinement,
        readiness=readiness,
        after_approve=app.state.get("after_approve"),
    )
    app.state.workruns = workruns.service
    app.state.worker_status = "running" if workruns.worker else "disabled"
    try:
        app.state.ready = True
        yield
    finally:
        app.state.ready = False
        await workruns.stop()
        await commands.close()
        await commands_pool.close()
        await pool.close()
        confinement.close()


def build_confinement(settings: SandboxSettings, *, services_non_dumpable: bool) -> Confinement:
    """The confinement of governed processes, granting read access to the toolchain.

    Read-only grants: every PATH entry and the installation of each allowlisted
    program and of Codex (see `toolchain_paths`), and this interpreter's
    libraries and the `hive` packages (the relay helper runs `python -m
    hive.sandbox.relay_helper`).
    """
    programs = [
        *settings.command_allowlist,
        settings.codex.bin or str(codex_install.pinned_binary()),
    ]
    reads = toolchain_paths(base_path(), programs)
    # The interpreter's libraries and the hive packages (the relay helper is Python); never
    # sys.path as a whole, which starts with the working directory (a checkout, `.hive/`).
    reads += [Path(p) for p in sysconfig.get_paths().values()]
    reads += [Path(p).parent for p in hive.__path__]
    return Confinement(
        settings.confinement, read_paths=reads, services_non_dumpable=services_non_dumpable
    )


def build_commands(
    settings: SandboxSettings,
    storage: SandboxStorage,
    store: EventStore,
    confinement: Confinement | None = None,
) -> GovernedCommands:
    """GovernedCommands wired from settings (Work Runs reach it as app.state.commands).

    `store` should sit on the commands pool (`create_commands_pool`), whose commit
    mode HIVE_SANDBOX_COMMAND_SYNC_COMMIT sets (synchronous by default).
    """
    return GovernedCommands(
        storage=storage,
        records=CommandRecords(store, Instance.current(str(storage.root))),
        policy=default_policy(settings.command_allowlist, settings.registry_allowlist, storage),
        confinement=confinement,
        config=CommandsConfig(
            log_cap_bytes=settings.log_cap_bytes,
            preview_bytes=settings.preview_bytes,
            kill_grace_s=settings.kill_grace_s,
            default_timeout_s=settings.default_timeout_s,
            lease_ttl_s=settings.lease_ttl_s,
            settle_s=settings.command_settle_s,
            limits=ResourceLimits(
                nofile=settings.max_open_files,
                memory_bytes=settings.max_memory_bytes,
                cpu_s=settings.max_cpu_s,
            ),
        ),
    )


def create_app(
    settings: SandboxSettings | None = None, *, after_approve: AfterApprove | None = None
) -> Litestar:
    """Build the sandbox app (tests pass their own settings).

    `after_approve` is a test seam only (see `AfterApprove`): `app` below never sets it;
    a test's own entry point does (tests/support/paused_sandbox.py).
    """
    if settings is None:
        try:
            settings = SandboxSettings.from_env()
        except ValueError as exc:
            _fail(str(exc))
            raise
        # JSON lines on stdout that never carry a secret, from here on (as the gateway's).
        configure_logging(Redactor(settings.secret_values()))
        # Read once; nothing this process spawns may inherit them, whatever builds its env.
        make_non_dumpable()
        take_secrets(SECRET_SETTINGS)
    # Bodies: 10 MiB (Litestar's default) everywhere but Work Runs, whose create body
    # may carry a workspace archive as large as HIVE_SANDBOX_ARCHIVE_MAX_COMPRESSED_BYTES.
    work_runs = Router(
        path="/",
        route_handlers=[DevTaskController],
        request_max_body_size=archive_limits(settings).max_request_bytes,
    )
    protected = Router(
        path="/",
        route_handlers=[CommandsController, work_runs],
        guards=[authenticated],
        before_request=refuse_nul,
    )
    return Litestar(
        route_handlers=[health.healthz, protected],
        lifespan=[lifespan],
        plugins=[ProblemDetails(DRIVER_ERRORS)],
        state=State({"settings": settings, "ready": False, "after_approve": after_approve}),
        openapi_config=None,
        # Our handler (configure_logging) only: Litestar's default one would log unredacted.
        logging_config=None,
    )


# `app` (granian's target) is built on first access, once: see hive.contracts.serving.
__getattr__ = served_app(create_app)
