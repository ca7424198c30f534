from datetime import UTC, datetime

from hive.contracts.events import DevTaskCreated
from hive.events import NO_STREAM, EventStore


async def test_append_and_read(store: EventStore) -> None:
    ev = DevTaskCreated(
        task_id="s1", project_id="p", instructions="i", backend="b", created_at=datetime.now(UTC)
    )
    r = await store.append("workrun-s1", [ev], NO_STREAM)
    assert r.last_version == 1
    got = await store.read_stream("workrun-s1")
    assert got[0].decode() == ev
