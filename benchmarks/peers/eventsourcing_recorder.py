"""Peer: pyeventsourcing 9.5's PostgreSQL application recorder doing our appends.

Runs inside its own throwaway venv (benchmarks/.peers/eventsourcing), never the
project's; prints one JSON object with events/s per scenario.
Env: PG_HOST (socket dir or host), PG_PORT, PG_DB, PG_USER, N_SINGLE, N_BATCHES, N_CONCURRENT.
"""

import json
import os
import threading
import time
import uuid

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

PAYLOAD = json.dumps(
    {"checkpoint_payload": {"step": 1, "note": "x" * 64}, "durable": True}
).encode()
TOPIC = "bench:CheckpointRecorded"


def recorder(pool_size: int) -> PostgresApplicationRecorder:
    ds = PostgresDatastore(
        dbname=os.environ["PG_DB"],
        host=os.environ["PG_HOST"],
        port=os.environ.get("PG_PORT", "5432"),
        user=os.environ.get("PG_USER", "postgres"),
        password="",
        pool_size=pool_size,
    )
    rec = PostgresApplicationRecorder(ds, events_table_name="es_stored_events")
    rec.create_table()
    return rec


def appends(rec: PostgresApplicationRecorder, n: int, batch: int) -> None:
    oid = uuid.uuid4()
    version = 0
    for _ in range(n):
        events = []
        for _ in range(batch):
            version += 1
            events.append(StoredEvent(oid, version, TOPIC, PAYLOAD))
        rec.insert_events(events)


def timed(fn, events: int) -> float:
    t = time.perf_counter()
    fn()
    return events / (time.perf_counter() - t)


def main() -> None:
    n_single = int(os.environ.get("N_SINGLE", "2000"))
    n_batches = int(os.environ.get("N_BATCHES", "100"))
    n_conc = int(os.environ.get("N_CONCURRENT", "500"))
    rec = recorder(8)
    appends(rec, 50, 1)  # warm-up: connections, prepared statements
    out = {
        "single": timed(lambda: appends(rec, n_single, 1), n_single),
        "batch100": timed(lambda: appends(rec, n_batches, 100), n_batches * 100),
    }

    def concurrent() -> None:
        threads = [threading.Thread(target=appends, args=(rec, n_conc, 1)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    out["concurrent8"] = timed(concurrent, 8 * n_conc)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
