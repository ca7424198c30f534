"""`/api/agents/{agent_id}/schedules[/{schedule_id}]`: recurring runs (operator session)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, delete, get, patch, post

from hive.contracts.agents import FiringView, ScheduleCreate, ScheduleUpdate, ScheduleView
from hive.gateway.agents.feature import agents_of
from hive.gateway.errors import Invalid, NotFound
from hive.gateway.platform.identifiers import check_id
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems
from hive.gateway.schedules.cron import ScheduleInvalid
from hive.gateway.schedules.store import ScheduleStore

PROBLEMS = problems(*SESSION_PROBLEMS, 404)


async def _store(request: Request[Any, Any, Any], agent_id: str) -> ScheduleStore:
    service = agents_of(request)
    await service.require(check_id(agent_id, "agent"))
    return ScheduleStore(service.registry.pool)


async def _schedule(store: ScheduleStore, agent_id: str, schedule_id: str) -> ScheduleView:
    found = await store.get(agent_id, check_id(schedule_id, "schedule"))
    if found is None:
        raise NotFound("schedule not found")
    return found


def _invalid(exc: ScheduleInvalid) -> Invalid:
    return Invalid(str(exc))


class SchedulesController(Controller):
    """An agent's schedules."""

    path = "/api/agents/{agent_id:str}/schedules"
    tags = ["agents"]

    @post("/", status_code=201, responses=PROBLEMS)
    async def create_schedule(
        self, request: Request[Any, Any, Any], agent_id: str, data: ScheduleCreate
    ) -> ScheduleView:
        """A recurring run: cron in a time zone, overlap skip|enqueue, a catch-up window."""
        if data.catch_up_s < 0:
            raise Invalid("catch_up_s must be >= 0")
        store = await _store(request, agent_id)
        try:
            return await store.create(agent_id, data, datetime.now(UTC))
        except ScheduleInvalid as exc:
            raise _invalid(exc) from exc

    @get("/", responses=PROBLEMS)
    async def list_schedules(
        self, request: Request[Any, Any, Any], agent_id: str
    ) -> list[ScheduleView]:
        """The agent's schedules."""
        return await (await _store(request, agent_id)).of_agent(agent_id)

    @get("/{schedule_id:str}", responses=PROBLEMS)
    async def get_schedule(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str
    ) -> ScheduleView:
        """One schedule."""
        return await _schedule(await _store(request, agent_id), agent_id, schedule_id)

    @patch("/{schedule_id:str}", responses=PROBLEMS)
    async def update_schedule(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str, data: ScheduleUpdate
    ) -> ScheduleView:
        """Change fields (`paused: true|false` pauses and resumes)."""
        store = await _store(request, agent_id)
        current = await _schedule(store, agent_id, schedule_id)
        try:
            return await store.update(current, data, datetime.now(UTC))
        except ScheduleInvalid as exc:
            raise _invalid(exc) from exc

    @post("/{schedule_id:str}/pause", status_code=200, responses=PROBLEMS)
    async def pause(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str
    ) -> ScheduleView:
        """Stop firing (firings during the pause are neither run nor recorded)."""
        store = await _store(request, agent_id)
        current = await _schedule(store, agent_id, schedule_id)
        return await store.update(current, ScheduleUpdate(paused=True), datetime.now(UTC))

    @post("/{schedule_id:str}/resume", status_code=200, responses=PROBLEMS)
    async def resume(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str
    ) -> ScheduleView:
        """Fire again from the next fire time after now."""
        store = await _store(request, agent_id)
        current = await _schedule(store, agent_id, schedule_id)
        return await store.update(current, ScheduleUpdate(paused=False), datetime.now(UTC))

    @delete("/{schedule_id:str}", status_code=204, responses=PROBLEMS)
    async def delete_schedule(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str
    ) -> None:
        """Stop and remove (its firings stay)."""
        store = await _store(request, agent_id)
        await store.delete((await _schedule(store, agent_id, schedule_id)).schedule_id)

    @get("/{schedule_id:str}/firings", responses=PROBLEMS)
    async def list_firings(
        self, request: Request[Any, Any, Any], agent_id: str, schedule_id: str
    ) -> list[FiringView]:
        """Firings, newest first: fired, queued, skipped, missed."""
        store = await _store(request, agent_id)
        return await store.firings((await _schedule(store, agent_id, schedule_id)).schedule_id)
