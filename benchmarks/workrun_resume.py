"""Resume-in-place latency on a Work Run whose stream holds 10k events.

`uv run python benchmarks/workrun_resume.py` (or `python -m benchmarks workrun_resume`).

What is timed: `WorkRuns.resume(task_id)` - the whole domain path of
`POST /dev-tasks/{id}/resume` minus HTTP: fold the stream (snapshot + tail, or
all 10k events), judge the transition, append `AttemptStarted` with the
pending lease row in one transaction (committed when the call returns), then
build the DevTaskStatus answer. Between samples the attempt is failed again
(one append, untimed), so every sample resumes a 10k-event stream.

Peers measured in the same run: the floor (one bare expected-version append
of the same event, no fold) and the cold fold alone.

Target (issue 4): < 50 ms with a snapshot.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import types
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_database, median, percentile, table
from hive.contracts.api import CreateDevTask
from hive.contracts.events import AttemptFinished, AttemptStarted, CheckpointRecorded
from hive.events import EventStore, create_pool
from hive.sandbox.storage import SandboxStorage
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.service import BackendCatalog, WorkRuns
from hive.sandbox.workruns.state import encode_state, stream_id

STREAM_EVENTS = 10_000
SAMPLES = 40
BATCH = 500


def _now() -> datetime:
    return datetime.now(UTC)


async def _fill(service: WorkRuns, task_id: str) -> None:
    """Grow the running attempt's stream to STREAM_EVENTS with checkpoints, then fail it."""
    state = await service.load(task_id)
    version, seq = state.stream_version, state.last_sequence_no
    sid = stream_id(task_id)
    while version < STREAM_EVENTS - 1:
        n = min(BATCH, STREAM_EVENTS - 1 - version)
        batch = [
            CheckpointRecorded(
                checkpoint_sequence_no=seq + i + 1,
                attempt_no=1,
                durable=True,
                checkpoint_payload={"step": seq + i, "note": "benchmark filler"},
                recorded_at=_now(),
            )
            for i in range(n)
        ]
        await service.store.append(sid, batch, version)
        version, seq = version + n, seq + n
    await _fail_current(service, task_id)


async def _fail_current(service: WorkRuns, task_id: str) -> None:
    state = await service.load(task_id)
    cur = state.current_attempt
    assert cur is not None
    event = AttemptFinished(
        attempt_no=cur.attempt_no,
        attempt_id=cur.attempt_id,
        outcome="failed",
        reason="benchmark",
        finished_at=_now(),
    )
    await service.store.append(stream_id(task_id), [event], state.stream_version)
    async with service.pool.acquire() as conn:
        await service.leases.set_state(conn, task_id, cur.attempt_no, "released")


async def _resume_samples(service: WorkRuns, task_id: str, *, snapshot: bool) -> list[float]:
    service.use_snapshots = snapshot
    out: list[float] = []
    for _ in range(SAMPLES):
        if snapshot:
            # Keep the snapshot near the head, as the repository's own policy would.
            state = await service.repo.load(task_id, use_snapshot=False)
            assert state is not None
            await service.repo.snapshots.save(
                stream_id(task_id), state.stream_version, encode_state(state)
            )
        else:
            await service.repo.snapshots.delete(stream_id(task_id))
        t0 = time.perf_counter()
        status = await service.resume(task_id)
        out.append((time.perf_counter() - t0) * 1000)
        assert status.state == "running"
        await _fail_current(service, task_id)
    return out


async def _floor_samples(store: EventStore, task_id: str) -> list[float]:
    """One expected-version append of an AttemptStarted to a scratch stream, no fold."""
    out: list[float] = []
    sid = stream_id(task_id + "-floor")
    for version in range(SAMPLES):
        event = AttemptStarted(
            attempt_no=version + 1,
            attempt_id="x",
            backend="deterministic_proof",
            backend_run_id="x",
            execution_class="in_process",
            artifact_root="/",
            log_root="/",
            started_at=_now(),
        )
        t0 = time.perf_counter()
        await store.append(sid, [event], version)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _fold_samples(service: WorkRuns, task_id: str) -> list[float]:
    out: list[float] = []
    for _ in range(5):
        t0 = time.perf_counter()
        await service.repo.load(task_id, use_snapshot=False)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def run() -> dict[str, list[float]]:
    """Measure and return the samples (ms) per variant."""
    async with bench_database() as url:
        pool = await create_pool(url, min_size=2, max_size=4)
        try:
            with tempfile.TemporaryDirectory(prefix="hive-bench-") as tmp:
                service = WorkRuns(
                    store=EventStore(pool),
                    storage=SandboxStorage(Path(tmp)),
                    backends=BackendCatalog(types.SimpleNamespace()),
                    apply_back=ApplyBack(relay_url=None, relay_token=None),
                    default_backend="deterministic_proof",
                    lease_ttl_s=30,
                )
                created = await service.create(
                    CreateDevTask(project_id="bench", instructions='{"steps": []}')
                )
                task_id = created.task_id
                t0 = time.perf_counter()
                await _fill(service, task_id)
                fill_s = time.perf_counter() - t0
                length = await service.store.stream_version(stream_id(task_id))
                print(f"stream {stream_id(task_id)}: {length} events (filled in {fill_s:.1f} s)")
                floor = await _floor_samples(service.store, task_id)
                return {
                    "resume, with snapshot": await _resume_samples(service, task_id, snapshot=True),
                    "resume, without snapshot": await _resume_samples(
                        service, task_id, snapshot=False
                    ),
                    "peer: cold fold of the stream only": await _fold_samples(service, task_id),
                    "peer: bare append (floor)": floor,
                }
        finally:
            await pool.close()


def main() -> None:
    """Print the figures."""
    results = asyncio.run(run())
    floor = median(results["peer: bare append (floor)"])
    rows = [
        (
            name,
            len(samples),
            f"{median(samples):.2f}",
            f"{percentile(samples, 95):.2f}",
            f"{max(samples):.2f}",
            f"{median(samples) / floor:.1f}x",
        )
        for name, samples in results.items()
    ]
    print(table(["variant", "n", "median ms", "p95 ms", "max ms", "vs floor"], rows))
    with_snap = percentile(results["resume, with snapshot"], 95)
    verdict = "meets" if with_snap < 50 else "MISSES"
    print(f"target < 50 ms with a snapshot: p95 {with_snap:.2f} ms, {verdict} it")


if __name__ == "__main__":
    main()
