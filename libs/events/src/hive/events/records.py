"""What the event store reads and writes: positions, new and recorded events, append results."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg

from hive.contracts.api import StoredEvent
from hive.contracts.events import Event, WorkRunEvent, decode_event


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A position in the global order: (transaction id, global position)."""

    tx_id: int = 0
    global_position: int = 0


START: Final = Cursor()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, with its id (retries reuse the id) and metadata."""

    event: Event
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored."""

    stream_id: str
    stream_version: int
    global_position: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    payload: bytes
    metadata: bytes | None
    tx_id: int
    recorded_at: datetime

    @property
    def cursor(self) -> Cursor:
        """This event's place in the global order."""
        return Cursor(self.tx_id, self.global_position)

    def decode(self) -> WorkRunEvent:
        """The typed event (upcast when stored with an older schema)."""
        return decode_event(self.event_type, self.schema_version, self.payload)

    def stored(self) -> StoredEvent:
        """The events APIs' view of it (Work Run and agent run streams alike)."""
        return StoredEvent(
            stream_version=self.stream_version,
            global_position=self.global_position,
            event_id=str(self.event_id),
            event_type=self.event_type,
            schema_version=self.schema_version,
            recorded_at=self.recorded_at,
            # json, as the sandbox always read it (it also takes what msgspec refuses, NaN)
            payload=json.loads(self.payload),
        )


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed. `duplicate` is true for an idempotent retry."""

    stream_id: str
    first_version: int
    last_version: int
    global_positions: tuple[int, ...]
    duplicate: bool = False


def category_of(stream_id: str) -> str:
    """The category is the stream id up to its first '-' (message-db style)."""
    return stream_id.split("-", 1)[0]


def row_to_event(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        global_position=row["global_position"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        payload=row["payload"],
        metadata=row["metadata"],
        tx_id=int(row["tx_id"]),
        recorded_at=row["recorded_at"],
    )
