"""The `work_runs` read model and loading one WorkRun from snapshot + tail."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hive.contracts.events import decode_event
from hive.events import EventStore, RecordedEvent, SnapshotStore
from hive.sandbox.workruns.state import (
    PROJECTION_NAME,
    PROJECTION_VERSION,
    STREAM_PREFIX,
    WorkRunState,
    decode_state,
    encode_state,
    stream_id,
)

CATEGORY = STREAM_PREFIX.rstrip("-")
SNAPSHOT_EVERY = 500

_UPSERT = """
INSERT INTO work_runs (task_id, project_id, state, stream_version, data, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::timestamptz[])
ON CONFLICT (task_id) DO UPDATE SET project_id = EXCLUDED.project_id, state = EXCLUDED.state,
    stream_version = EXCLUDED.stream_version, data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
"""


def fold_into(states: dict[str, WorkRunState], events: Sequence[RecordedEvent]) -> set[str]:
    """Fold events into per-stream states (skipping versions already folded)."""
    touched: set[str] = set()
    for rec in events:
        st = states.get(rec.stream_id)
        if st is None:
            st = states[rec.stream_id] = WorkRunState()
        if rec.stream_version <= st.stream_version:
            continue
        st.apply(rec.decode(), rec.stream_version, rec.recorded_at)
        touched.add(rec.stream_id)
    return touched


def _rows(states: Sequence[WorkRunState]) -> tuple[list[object], ...]:
    return (
        [s.task_id for s in states],
        [s.project_id for s in states],
        [s.state for s in states],
        [s.stream_version for s in states],
        [encode_state(s) for s in states],
        [s.updated_at for s in states],
    )


class _RebuildFold:
    def __init__(self) -> None:
        self.states: dict[str, WorkRunState] = {}

    def fold(self, rows: Sequence[asyncpg.Record]) -> None:
        states = self.states
        for stream, version, event_type, schema_version, payload, recorded_at in rows:
            st = states.get(stream)
            if st is None:
                st = states[stream] = WorkRunState()
            st.apply(decode_event(event_type, schema_version, payload), version, recorded_at)

    async def write(self, conn: asyncpg.Connection) -> int:
        records = [
            (s.task_id, s.project_id, s.state, s.stream_version, encode_state(s), s.updated_at)
            for s in self.states.values()
            if s.state is not None
        ]
        await conn.copy_records_to_table(
            "work_runs",
            records=records,
            columns=["task_id", "project_id", "state", "stream_version", "data", "updated_at"],
        )
        return len(records)


class WorkRunProjection:
    """stream `workrun-<task_id>` -> row in `work_runs` (DevTaskStatus source)."""

    name = PROJECTION_NAME
    version = PROJECTION_VERSION
    categories: tuple[str, ...] | None = (CATEGORY,)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        """Fold a batch into the stored rows of the streams it touches."""
        ids = sorted({e.stream_id[len(STREAM_PREFIX) :] for e in events})
        rows = await conn.fetch("SELECT task_id, data FROM work_runs WHERE task_id = ANY($1)", ids)
        states = {stream_id(r["task_id"]): decode_state(r["data"]) for r in rows}
        touched = fold_into(states, events)
        if touched:
            await conn.execute(_UPSERT, *_rows([states[s] for s in sorted(touched)]))

    async def reset(self, conn: asyncpg.Connection) -> None:
        """Empty the read model."""
        await conn.execute("TRUNCATE work_runs")

    def begin_rebuild(self) -> _RebuildFold:
        """A fold that keeps every state in memory and COPYs them at the end."""
        return _RebuildFold()


class WorkRunRepository:
    """Read Work Runs: the live fold of one stream, or the read model for lists."""

    def __init__(self, store: EventStore, *, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.store = store
        self.snapshots = SnapshotStore(store.pool, PROJECTION_NAME, PROJECTION_VERSION)
        self.snapshot_every = snapshot_every

    async def load(self, task_id: str, *, use_snapshot: bool = True) -> WorkRunState | None:
        """Fold the stream (from the newest usable snapshot); None if it does not exist."""
        sid = stream_id(task_id)
        state = WorkRunState()
        if use_snapshot and (snap := await self.snapshots.load(sid)) is not None:
            state = decode_state(snap.state)
        tail = await self.store.read_stream_for_fold(sid, after_version=state.stream_version)
        for version, event_type, schema_version, payload, recorded_at in tail:
            state.apply(decode_event(event_type, schema_version, payload), version, recorded_at)
        if state.state is None:
            return None
        if use_snapshot and len(tail) >= self.snapshot_every:
            await self.snapshots.save(sid, state.stream_version, encode_state(state))
        return state

    async def list(
        self,
        *,
        project_id: str | None = None,
        state: str | None = None,
        limit: int = 200,
        offset: int = 0,
        task_id_contains: str | None = None,
    ) -> list[WorkRunState]:
        """Read-model rows, newest first (eventually consistent with the streams).

        `offset` pages (task_id breaks ties so a page boundary is deterministic);
        `task_id_contains` matches literally (LIKE wildcards in it are escaped).
        """
        pattern = None
        if task_id_contains:
            escaped = task_id_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT data FROM work_runs WHERE ($1::text IS NULL OR project_id = $1) "
                "AND ($2::text IS NULL OR state = $2) "
                "AND ($5::text IS NULL OR task_id LIKE $5) "
                "ORDER BY updated_at DESC, task_id LIMIT $3 OFFSET $4",
                project_id,
                state,
                limit,
                offset,
                pattern,
            )
        return [decode_state(r["data"]) for r in rows]
