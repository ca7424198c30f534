"""Work Run reads: status, lists from the read model, events, the patch and artifacts.

Status is `WorkRunState.to_status()` plus the heartbeat of the task's lease row;
lists come from the `work_runs` read model, caught up on demand.
"""

from __future__ import annotations

from hive.contracts.api import DevTaskStatus, StoredEvent
from hive.events import RecordedEvent
from hive.sandbox.workruns.blobs import StoredArtifact
from hive.sandbox.workruns.decide import WorkRunBase
from hive.sandbox.workruns.errors import ArtifactNotFound, StateConflict, TaskNotFound
from hive.sandbox.workruns.state import stream_id


class Queries(WorkRunBase):
    """GET /dev-tasks and its sub-resources."""

    async def status(self, task_id: str) -> DevTaskStatus:
        """GET /dev-tasks/{task_id}."""
        return await self.status_of(await self.load(task_id))

    async def list_tasks(
        self,
        *,
        project_id: str | None = None,
        state: str | None = None,
        limit: int = 200,
        offset: int = 0,
        task_id_contains: str | None = None,
    ) -> list[DevTaskStatus]:
        """GET /dev-tasks from the read model (caught up first)."""
        await self.projections.catch_up(self.projection)
        states = await self.repo.list(
            project_id=project_id,
            state=state,
            limit=limit,
            offset=offset,
            task_id_contains=task_id_contains,
        )
        leases = await self.leases.get_many([s.task_id for s in states])
        return [await self.status_of(s, leases.get(s.task_id)) for s in states]

    async def events(
        self, task_id: str, *, after: int = 0, limit: int | None = 1000
    ) -> list[StoredEvent]:
        """The typed stream after version `after`."""
        records = await self.store.read_stream(stream_id(task_id), after_version=after, limit=limit)
        if not records and await self.store.stream_version(stream_id(task_id)) == 0:
            raise TaskNotFound(task_id)  # nothing after V of no stream is a 404, not []
        return [stored_event(r) for r in records]

    async def patch(self, task_id: str) -> bytes:
        """The proposed unified diff."""
        state = await self.load(task_id)
        if state.patch is None:
            raise StateConflict(f"task {task_id} has no proposed patch", state=state.state)
        diff = await self.blobs.patch(task_id, state.patch.attempt_no)
        if diff is None:
            raise StateConflict(f"the patch of task {task_id} is missing", state=state.state)
        return diff

    async def artifact(self, task_id: str, name: str) -> StoredArtifact:
        """One artifact's bytes."""
        found = await self.blobs.artifact(task_id, name)
        if found is None:
            await self.load(task_id)
            raise ArtifactNotFound(f"task {task_id} has no artifact {name!r}")
        return found


def stored_event(r: RecordedEvent) -> StoredEvent:
    """The events API's view of one stored event."""
    return r.stored()
