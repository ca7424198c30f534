"""Relay call accounting: `ModelCallRecorded` events on the caller's own stream.

A call of a task token lands on `relaycalls-task-<task_id>`, of an agent token
on `relaycalls-agent-<agent_id>` (category `relaycalls`, never the Work Run's
`workrun-` stream, so the WorkRun fold and its projection never see them).
Appends happen off the request path: handlers enqueue, one worker appends in
batches, and shutdown flushes what is queued. A full queue drops the record
(and counts it) rather than slow the relay down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from hive.contracts.events import ModelCallRecorded
from hive.events import ANY, EventStore

log = logging.getLogger("hive.gateway.relay.model_relay")

STREAM_CATEGORY = "relaycalls"


def stream_for(task_id: str | None, agent_id: str | None) -> str:
    """The stream a call is recorded on."""
    if task_id is not None:
        return f"{STREAM_CATEGORY}-task-{task_id}"
    return f"{STREAM_CATEGORY}-agent-{agent_id}"


class CallRecorder:
    """Queue of call records and the worker that appends them."""

    def __init__(self, store: EventStore, *, max_queue: int = 10_000) -> None:
        self.store = store
        self._queue: asyncio.Queue[ModelCallRecorded] = asyncio.Queue(max_queue)
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        """Start the append worker on the running loop."""
        self._worker = asyncio.create_task(self._run(), name="relay-call-recorder")

    def record(self, event: ModelCallRecorded) -> None:
        """Enqueue one record (never blocks)."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("relay call record dropped: queue full (%d dropped)", self.dropped)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            await self._append(batch)
            for _ in batch:
                self._queue.task_done()

    async def _append(self, batch: list[ModelCallRecorded]) -> None:
        by_stream: dict[str, list[ModelCallRecorded]] = defaultdict(list)
        for event in batch:
            by_stream[stream_for(event.task_id, event.agent_id)].append(event)
        for stream_id, events in by_stream.items():
            try:
                await self.store.append(stream_id, events, ANY)
            except Exception:  # a lost record must not stop the worker; the log says why
                log.exception("could not record %d relay call(s) on %s", len(events), stream_id)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued (up to `timeout_s`), then stop the worker."""
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
        except TimeoutError:
            log.warning("relay call records not flushed: %d left", self._queue.qsize())
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
