"""Assembling the Work Run service and its worker from the sandbox settings.

Called from the composition root (`hive.sandbox.main`); kept here so main.py
stays a list of services rather than their wiring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hive.events import EventStore
from hive.sandbox.backends.readiness import BackendReadiness
from hive.sandbox.confinement import Confinement
from hive.sandbox.settings import SandboxSettings
from hive.sandbox.storage import SandboxStorage
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.archive import ArchiveLimits
from hive.sandbox.workruns.service import AfterApprove, BackendCatalog, WorkRuns
from hive.sandbox.workruns.worker import CommandRunner, Worker


@dataclass
class WorkRunRuntime:
    """The service the API uses and the worker that runs attempts (if enabled)."""

    service: WorkRuns
    worker: Worker | None

    async def stop(self) -> None:
        """Stop the worker (its running attempts are marked stale for resume)."""
        if self.worker is not None:
            await self.worker.stop()


def archive_limits(settings: SandboxSettings) -> ArchiveLimits:
    """The workspace-archive limits of the settings (one source for the seed and the API)."""
    wr = settings.workruns
    return ArchiveLimits(
        max_compressed_bytes=wr.archive_max_compressed_bytes,
        max_total_bytes=wr.archive_max_bytes,
        max_files=wr.archive_max_files,
    )


async def start_work_runs(
    settings: SandboxSettings,
    store: EventStore,
    *,
    commands: CommandRunner | None = None,
    confinement: Confinement | None = None,
    readiness: Mapping[str, BackendReadiness] | None = None,
    after_approve: AfterApprove | None = None,
) -> WorkRunRuntime:
    """Build WorkRuns from the sandbox settings and start its worker.

    `after_approve` is a test seam (see `AfterApprove`); the composition root leaves it unset.
    """
    wr = settings.workruns
    storage = SandboxStorage(settings.root)
    storage.ensure()
    service = WorkRuns(
        store=store,
        storage=storage,
        backends=BackendCatalog(settings, confinement=confinement, readiness=readiness),
        apply_back=ApplyBack(
            relay_url=wr.apply_relay_url,
            relay_token=wr.apply_relay_token,
            git_timeout_s=wr.git_timeout_s,
        ),
        default_backend=settings.coding_backend,
        lease_ttl_s=settings.lease_ttl_s,
        limits=archive_limits(settings),
        git_timeout_s=wr.git_timeout_s,
        after_approve=after_approve,
    )
    worker = None
    if settings.worker_enabled:
        worker = Worker(
            service,
            commands=commands,
            max_concurrent=wr.max_concurrent_attempts,
            poll_interval_s=wr.poll_interval_s,
        )
        await worker.start()
    return WorkRunRuntime(service, worker)
