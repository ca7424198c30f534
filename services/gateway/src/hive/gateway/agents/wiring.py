"""Wire the agents feature once the database is: pool (chosen here), journal, service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import sysconfig
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar

import hive
from hive.contracts.api import TaskTokenRequest
from hive.contracts.child_environment import base_path
from hive.contracts.confinement import (
    Confinement,
    ConfinementSettings,
    ConfinementUnavailable,
    toolchain_paths,
)
from hive.contracts.hardening import make_non_dumpable
from hive.contracts.tokens import SCOPE_AGENT, SCOPE_RELAY
from hive.gateway.agents.budget_guard import RunBudgetGuard
from hive.gateway.agents.dev_tasks import AgentDevTasks
from hive.gateway.agents.feature import AgentsFeature
from hive.gateway.agents.journal import AgentRunJournal
from hive.gateway.agents.registry import AgentRecord, AgentRegistry
from hive.gateway.agents.service import AgentService
from hive.gateway.pools.base import AgentPool
from hive.gateway.pools.in_process import InProcessAgentHost
from hive.gateway.pools.kubernetes import KubernetesAgentPool
from hive.gateway.pools.local import LocalAgentPool
from hive.gateway.pools.local_subprocess import LocalSubprocessPool
from hive.gateway.pools.settings import AgentPoolSettings
from hive.gateway.runtime import GatewayRuntime, Services
from hive.gateway.schedules.lease import LeaderLease
from hive.gateway.schedules.scheduler import Scheduler
from hive.gateway.schedules.store import ScheduleStore
from hive.gateway.settings import SettingsError

log = logging.getLogger("hive.gateway.agents")


def agent_confinement(settings: AgentPoolSettings) -> Confinement:
    """The boundary of agent runtime processes (the same builder as the sandbox's children).

    Read-only: PATH and this interpreter's installation, its libraries, and the
    workspace members (`hive` packages, the agent's bundled defaults); writable:
    each runtime's own workspace (given per launch); TCP: connect to the gateway's
    port only, bind the runtime's own port only.
    """
    reads = toolchain_paths(base_path(), [sys.executable])
    reads += [Path(p) for p in sysconfig.get_paths().values()]
    reads += [Path(p).parent.parent for p in hive.__path__]  # member roots (src/, defaults/)
    protected = [settings.data_dir] if settings.data_dir is not None else []
    confinement = Confinement(
        ConfinementSettings(
            required=settings.require_agent_confinement,
            egress_ports=(),
            protected_paths=tuple(protected),
        ),
        read_paths=reads,
        services_non_dumpable=make_non_dumpable(),
    )
    try:
        confinement.require()
    except ConfinementUnavailable as exc:
        raise SettingsError("HIVE_AGENT_REQUIRE_CONFINEMENT", str(exc)) from exc
    if not confinement.status.in_force:
        log.warning(
            "agent runtimes only partly confined: %s", "; ".join(confinement.status.missing)
        )
    return confinement


def _pool(
    rt: GatewayRuntime,
    services: Services,
    settings: AgentPoolSettings,
    journal: AgentRunJournal,
    service_ref: list[AgentService],
) -> AgentPool:
    root = rt.settings.workspace / ".agents"
    if settings.pool_backend == "local":
        tools = AgentDevTasks(services.dev_tasks, services.projects)

        def host(agent: AgentRecord) -> InProcessAgentHost:
            return InProcessAgentHost(agent.config, journal, services.relay, tools)

        return LocalAgentPool(root, settings.controller_id, host)
    ttl = min(settings.token_ttl_s, rt.settings.token_max_ttl_s)

    def issue(agent_id: str) -> str:
        return services.tokens.issue(
            TaskTokenRequest(scopes=[SCOPE_RELAY, SCOPE_AGENT], agent_id=agent_id, ttl_s=ttl)
        ).token

    if settings.container_runtime == "local_subprocess":

        async def on_ready(agent_id: str) -> None:
            await service_ref[0].resume_running(agent_id)

        return LocalSubprocessPool(
            root,
            controller_id=settings.controller_id,
            gateway_url=settings.agent_gateway_url,
            issue_token=issue,
            on_ready=on_ready,
            confinement=agent_confinement(settings) if settings.agent_confinement else None,
        )
    return KubernetesAgentPool(
        controller_id=settings.controller_id,
        namespace=settings.agent_namespace,
        image=settings.agent_image,
        gateway_url=settings.agent_gateway_url,
        issue_token=issue,
        kubeconfig=settings.kubeconfig,
    )


async def run_agents(
    feature: AgentsFeature, rt: GatewayRuntime, settings: AgentPoolSettings
) -> None:
    """Background task: wait for the database wiring, start the pool, poll health; stop on cancel."""
    # The database wiring (main.py) may retry for a while outside strict mode; it has no
    # event to wait on, and a poll every 200 ms costs nothing.
    while rt.services is None:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    services = rt.services
    registry = AgentRegistry(services.pool)
    journal = AgentRunJournal(services.store, registry)
    services.relay.admission = RunBudgetGuard(journal.read)
    ref: list[AgentService] = []
    try:
        pool = _pool(rt, services, settings, journal, ref)
    except SettingsError as exc:
        feature.failure = f"agents unavailable: {exc}"
        log.error("%s", feature.failure)
        return
    service = AgentService(
        registry,
        journal,
        pool,
        services.projects,
        services.tokens,
        silent_after_s=settings.silent_after_s,
    )
    ref.append(service)
    holder = f"{settings.controller_id}:{uuid.uuid4().hex[:12]}"
    scheduler = Scheduler(
        ScheduleStore(services.pool),
        LeaderLease(services.pool, "agent-scheduler", holder, settings.scheduler_lease_s),
        service.run,
        settings.scheduler_tick_s,
    )
    ticking: asyncio.Task[None] | None = None
    try:
        await service.start()
        feature.service = service
        log.info("agents: %s pool started (controller %s)", pool.name, settings.controller_id)
        ticking = asyncio.create_task(scheduler.run_forever(), name="agent-scheduler")
        await service.watch_health(settings.health_interval_s)
    finally:
        feature.service = None
        if ticking is not None:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ticking
        with contextlib.suppress(Exception):
            await pool.close()


@contextlib.asynccontextmanager
async def agents_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Run the agents feature beside the gateway's own lifespan; stop it first on the way out."""
    feature: AgentsFeature = app.state.agents
    rt: GatewayRuntime = app.state.runtime
    task = asyncio.create_task(run_agents(feature, rt, feature.settings), name="gateway-agents")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
