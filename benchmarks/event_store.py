"""Event store benchmark (issue 2): appends vs the raw asyncpg floor and pyeventsourcing, replay speed.

In one run, on one PostgreSQL server (embedded unless DATABASE_URL):
- raw asyncpg floor: single-row INSERT+COMMIT per transaction; a 100-row batch per transaction
- our store: 1 event per append, 100 events per append, 8 concurrent writers on distinct streams
- pyeventsourcing 9.5's PostgreSQL recorder doing the same appends (its own throwaway venv)
- replay: fold one 100k-event stream into the WorkRun projection; `hive projections rebuild`
  over 1M events in 10k streams
Targets (ratios in the same run): single append >= 0.8x the raw floor; 100-event batches >= 2x
pyeventsourcing; fold >= 200k events/s; rebuild >= 100k events/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import asyncpg

from benchmarks.harness import REPO, bench_database, table
from hive.contracts.events import (
    AttemptStarted,
    CheckpointRecorded,
    DevTaskCreated,
    Event,
    encode_event,
)
from hive.events import EventStore, NewEvent, create_pool
from hive.events.connections import init_connection
from hive.sandbox.workruns.projection import WorkRunRepository

N_SINGLE = int(os.environ.get("BENCH_N_SINGLE", "2000"))
N_BATCHES = int(os.environ.get("BENCH_N_BATCHES", "100"))
N_CONCURRENT = int(os.environ.get("BENCH_N_CONCURRENT", "500"))
FOLD_EVENTS = int(os.environ.get("BENCH_FOLD_EVENTS", "100000"))
REBUILD_STREAMS = int(os.environ.get("BENCH_REBUILD_STREAMS", "10000"))
REBUILD_PER_STREAM = int(os.environ.get("BENCH_REBUILD_PER_STREAM", "100"))
PEER_VENV = REPO / "benchmarks" / ".peers" / "eventsourcing"
NOW = datetime.now(UTC)


def checkpoint(seq: int) -> CheckpointRecorded:
    """A realistic small event."""
    return CheckpointRecorded(
        checkpoint_sequence_no=seq,
        attempt_no=1,
        durable=True,
        checkpoint_payload={"step": seq, "note": "x" * 64},
        recorded_at=NOW,
    )


def work_run_events(task_id: str, n: int) -> list[Event]:
    """A legal Work Run stream of n events: created, attempt started, then checkpoints."""
    head: list[Event] = [
        DevTaskCreated(
            task_id=task_id,
            project_id="bench",
            instructions="benchmark",
            backend="deterministic_proof",
            created_at=NOW,
        ),
        AttemptStarted(
            attempt_no=1,
            attempt_id=uuid.uuid4().hex,
            backend="deterministic_proof",
            backend_run_id="run",
            execution_class="local",
            artifact_root="/a",
            log_root="/l",
            started_at=NOW,
        ),
    ]
    return head + [checkpoint(i) for i in range(1, n - 1)]


async def rate(coro_fn, events: int) -> float:  # type: ignore[no-untyped-def]
    """Events per second of one awaited scenario."""
    t = time.perf_counter()
    await coro_fn()
    return events / (time.perf_counter() - t)


async def raw_floor(url: str) -> dict[str, float]:
    """Plain asyncpg inserts into a table shaped like ours, no store logic."""
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE bench_raw (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "stream text NOT NULL, payload jsonb NOT NULL)"
    )
    payload = encode_event(checkpoint(1)).decode()

    async def single() -> None:
        for _ in range(N_SINGLE):
            await conn.execute(
                "INSERT INTO bench_raw (stream, payload) VALUES ($1, $2)", "s", payload
            )

    async def batch() -> None:
        streams, payloads = ["s"] * 100, [payload] * 100
        for _ in range(N_BATCHES):
            await conn.execute(
                "INSERT INTO bench_raw (stream, payload) SELECT * FROM unnest($1::text[], $2::jsonb[])",
                streams,
                payloads,
            )

    await single()  # warm-up (prepared statements, table pages)
    out = {"single": await rate(single, N_SINGLE), "batch100": await rate(batch, N_BATCHES * 100)}
    await conn.close()
    return out


async def our_store(url: str) -> dict[str, float]:
    """The same appends through EventStore with exact expected versions."""
    pool = await create_pool(url, min_size=8, max_size=8)
    store = EventStore(pool)

    async def appends(stream: str, n: int, batch: int) -> None:
        version = 0
        seq = 0
        for _ in range(n):
            events = []
            for _ in range(batch):
                seq += 1
                events.append(NewEvent(checkpoint(seq)))
            await store.append(stream, events, version)
            version += batch

    await appends("bench-warm", 200, 1)
    out = {
        "single": await rate(lambda: appends("bench-single", N_SINGLE, 1), N_SINGLE),
        "batch100": await rate(lambda: appends("bench-batch", N_BATCHES, 100), N_BATCHES * 100),
    }

    async def concurrent() -> None:
        await asyncio.gather(*(appends(f"bench-c{i}", N_CONCURRENT, 1) for i in range(8)))

    out["concurrent8"] = await rate(concurrent, 8 * N_CONCURRENT)
    await pool.close()
    return out


def peer_eventsourcing(url: str) -> dict[str, float] | str:
    """pyeventsourcing 9.5 in its own venv (installed here, never a project dependency)."""
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        made = subprocess.run(
            ["uv", "venv", "-q", "-p", "3.11", str(PEER_VENV)], capture_output=True, text=True
        )
        inst = subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(py), "eventsourcing[postgres]==9.5.*"],
            capture_output=True,
            text=True,
        )
        if made.returncode or inst.returncode:
            return f"peer unavailable: {made.stderr or inst.stderr}".strip()
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PG_HOST": host,
        "PG_PORT": str(parts.port or 5432),
        "PG_DB": parts.path.lstrip("/"),
        "PG_USER": parts.username or "postgres",
        "N_SINGLE": str(N_SINGLE),
        "N_BATCHES": str(N_BATCHES),
        "N_CONCURRENT": str(N_CONCURRENT),
    }
    script = REPO / "benchmarks" / "peers" / "eventsourcing_recorder.py"
    proc = subprocess.run([str(py), str(script)], env=env, capture_output=True, text=True)
    if proc.returncode:
        return f"peer failed: {proc.stderr.strip()[-400:]}"
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


async def seed(url: str, streams: list[tuple[str, int]]) -> None:
    """Load legal Work Run streams with COPY (set-up, not measured)."""
    conn = await asyncpg.connect(url)
    await init_connection(conn)  # jsonb as raw bytes, as the store's pool has it
    await conn.copy_records_to_table(
        "streams",
        records=[(sid, sid.split("-", 1)[0], n) for sid, n in streams],
        columns=["stream_id", "category", "version"],
    )
    chunk: list[tuple[object, ...]] = []
    for sid, n in streams:
        for v, ev in enumerate(work_run_events(sid.split("-", 1)[1], n), start=1):
            chunk.append((sid, v, uuid.uuid4(), type(ev).__name__, 1, encode_event(ev)))
        if len(chunk) >= 200_000:
            await _copy_events(conn, chunk)
            chunk = []
    if chunk:
        await _copy_events(conn, chunk)
    await conn.execute("ANALYZE events")
    await conn.close()


async def _copy_events(conn: asyncpg.Connection, records: list[tuple[object, ...]]) -> None:
    await conn.copy_records_to_table(
        "events",
        records=records,
        columns=[
            "stream_id",
            "stream_version",
            "event_id",
            "event_type",
            "schema_version",
            "payload",
        ],
    )


async def fold_rate(url: str) -> float:
    """Fold one long stream from the database (read + decode + fold), no snapshot."""
    await seed(url, [("workrun-fold", FOLD_EVENTS)])
    pool = await create_pool(url, max_size=2)
    store = EventStore(
        pool, hard_length=FOLD_EVENTS + 1
    )  # the stream is beyond the default hard limit
    repo = WorkRunRepository(store)
    await repo.load("fold", use_snapshot=False)  # warm-up
    t = time.perf_counter()
    state = await repo.load("fold", use_snapshot=False)
    elapsed = time.perf_counter() - t
    assert state is not None and state.stream_version == FOLD_EVENTS
    await pool.close()
    return FOLD_EVENTS / elapsed


def rebuild_rate(url: str) -> tuple[float, str]:
    """`hive projections rebuild` as an operator runs it, over many streams."""
    asyncio.run(seed(url, [(f"workrun-r{i}", REBUILD_PER_STREAM) for i in range(REBUILD_STREAMS)]))
    env = os.environ | {"DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "-m", "hive.cli.main", "projections", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    line = next((ln for ln in proc.stdout.splitlines() if "events/s" in ln), proc.stderr[-300:])
    m = re.search(r"= ([\d,]+) events/s", line)
    return (float(m.group(1).replace(",", "")) if m else float("nan")), line.strip()


async def run() -> None:
    """Everything, one database per section so table sizes don't leak between them."""
    async with bench_database() as url:
        raw = await raw_floor(url)
    async with bench_database() as url:
        ours = await our_store(url)
    async with bench_database() as url:
        peer = await asyncio.to_thread(peer_eventsourcing, url)
    async with bench_database() as url:
        fold = await fold_rate(url)
    async with bench_database() as url:
        rebuild, rebuild_line = await asyncio.to_thread(rebuild_rate, url)

    peer_ok = isinstance(peer, dict)
    rows = [
        ["raw asyncpg: 1-row INSERT+COMMIT", f"{raw['single']:,.0f}", "floor"],
        ["raw asyncpg: 100-row batch / tx", f"{raw['batch100']:,.0f}", "floor"],
        [
            "store: 1 event / append",
            f"{ours['single']:,.0f}",
            f"{ours['single'] / raw['single']:.2f}x raw (target >= 0.8)",
        ],
        [
            "store: 100 events / append",
            f"{ours['batch100']:,.0f}",
            f"{ours['batch100'] / peer['batch100']:.2f}x pyeventsourcing (target >= 2)"
            if peer_ok
            else "-",
        ],
        [
            "store: 8 concurrent writers",
            f"{ours['concurrent8']:,.0f}",
            f"{ours['concurrent8'] / peer['concurrent8']:.2f}x pyeventsourcing" if peer_ok else "-",
        ],
    ]
    if peer_ok:
        rows += [
            [
                "pyeventsourcing 9.5: 1 event / append",
                f"{peer['single']:,.0f}",
                f"{peer['single'] / raw['single']:.2f}x raw",
            ],
            ["pyeventsourcing 9.5: 100 events / append", f"{peer['batch100']:,.0f}", ""],
            ["pyeventsourcing 9.5: 8 concurrent writers", f"{peer['concurrent8']:,.0f}", ""],
        ]
    else:
        rows.append(["pyeventsourcing 9.5", "-", str(peer)])
    rows += [
        [f"fold 1 stream of {FOLD_EVENTS:,} events", f"{fold:,.0f}", "target >= 200,000"],
        [
            f"hive projections rebuild: {REBUILD_STREAMS * REBUILD_PER_STREAM:,} events / {REBUILD_STREAMS:,} streams",
            f"{rebuild:,.0f}",
            "target >= 100,000",
        ],
    ]
    print(table(["scenario", "events/s", "ratio"], rows))
    print(f"(rebuild said: {rebuild_line})")


def main() -> None:
    """Entry point for `python -m benchmarks event_store`."""
    asyncio.run(run())


if __name__ == "__main__":
    main()
