"""Agent run streams: every append of an `agentrun-<run_id>` stream goes through here.

The same door for an agent process (through the internal API, with its agent
token) and for the gateway itself (operator decisions, the in-process pool).
It checks what may be written by whom, appends at the caller's expected
version (the fence: a runtime that lost its place gets a conflict, not a fork)
and moves the run's row in `agent_runs` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from hive.agentruntime import StaleAppend, run_stream
from hive.contracts.api import StoredEvent
from hive.contracts.errors import ErrorCode
from hive.contracts.events import (
    AGENT_RUN_EVENTS,
    AgentApprovalDecided,
    AgentApprovalRequested,
    AgentRunFinished,
    AgentRunResumed,
    AgentRunStarted,
    Event,
)
from hive.events import EventStore, StreamTooLong, VersionConflict
from hive.gateway.agents.registry import AgentRegistry
from hive.gateway.errors import GatewayError


class JournalRefused(GatewayError):
    """The events may not be written by this writer; the code says why (its status is STATUS's)."""

    code = ErrorCode.VALIDATION_FAILED

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)


def status_after(current: str, events: Sequence[Event]) -> str:
    """A run's status after these events (the index's incremental fold)."""
    status = current
    for e in events:
        if isinstance(e, AgentRunStarted | AgentRunResumed):
            status = "running" if status in ("running", "awaiting_input") else status
        elif isinstance(e, AgentApprovalRequested):
            status = "awaiting_input"
        elif isinstance(e, AgentApprovalDecided):
            # A declined budget request is followed by AgentRunFinished(cancelled) in the same
            # batch; every other decision lets the run continue.
            status = "running"
        elif isinstance(e, AgentRunFinished):
            status = e.status
    return status


class AgentRunJournal:
    """Read and append agent run streams, keeping `agent_runs` in step."""

    def __init__(self, store: EventStore, registry: AgentRegistry) -> None:
        self.store = store
        self.registry = registry

    async def read(self, run_id: str, after_version: int = 0) -> list[Event]:
        """The run's events in order (those after `after_version`)."""
        recorded = await self.store.read_stream(run_stream(run_id), after_version=after_version)
        return [r.decode() for r in recorded]

    async def stored(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """The run's events after version `after`, as the events APIs show them."""
        records = await self.store.read_stream(run_stream(run_id), after_version=after, limit=limit)
        return [r.stored() for r in records]

    async def append(
        self,
        run_id: str,
        agent_id: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        operator: bool = False,
    ) -> int:
        """Append for `agent_id`; the new stream version. StaleAppend on a version conflict."""
        if not events:
            raise JournalRefused(ErrorCode.VALIDATION_FAILED, "no events")
        for e in events:
            if type(e) not in AGENT_RUN_EVENTS:
                raise JournalRefused(
                    ErrorCode.VALIDATION_FAILED, f"{type(e).__name__} is not an agent run event"
                )
            if isinstance(e, AgentApprovalDecided) and not operator:
                raise JournalRefused(
                    ErrorCode.FORBIDDEN, "only an operator decides an approval request"
                )
            if isinstance(e, AgentRunStarted) and expected_version != 0:
                raise JournalRefused(
                    ErrorCode.VALIDATION_FAILED,
                    "AgentRunStarted opens a stream (expected_version 0)",
                )
        first = events[0]
        async with self.store.pool.acquire() as conn, conn.transaction():
            row = await self.registry.run(run_id, conn)
            if expected_version == 0:
                if not (
                    isinstance(first, AgentRunStarted)
                    and first.run_id == run_id
                    and first.agent_id == agent_id
                ):
                    raise JournalRefused(
                        ErrorCode.VALIDATION_FAILED,
                        "a new run stream starts with AgentRunStarted of this run and agent",
                    )
                if row is not None:
                    raise StaleAppend(f"run {run_id} exists")
                current = "running"
            else:
                if row is None or row.agent_id != agent_id:
                    raise JournalRefused(
                        ErrorCode.NOT_FOUND, f"no run {run_id} of agent {agent_id}"
                    )
                current = row.status
            try:
                result = await self.store.append(
                    run_stream(run_id), list(events), expected_version, conn=conn
                )
            except VersionConflict as exc:
                raise StaleAppend(str(exc)) from exc
            except StreamTooLong as exc:
                raise JournalRefused(ErrorCode.VALIDATION_FAILED, str(exc)) from exc
            status = status_after(current, events)
            if expected_version == 0:
                assert isinstance(first, AgentRunStarted)
                await conn.execute(
                    "INSERT INTO agent_runs (run_id, agent_id, status, schedule_id, stream_version) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    run_id,
                    agent_id,
                    status,
                    first.schedule_id,
                    result.last_version,
                )
            else:
                await conn.execute(
                    "UPDATE agent_runs SET status = $2, stream_version = $3, updated_at = now() "
                    "WHERE run_id = $1",
                    run_id,
                    status,
                    result.last_version,
                )
        return result.last_version
