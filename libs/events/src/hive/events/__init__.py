"""OpenHive's PostgreSQL event store. See libs/events/README.md for the public API."""

from hive.events.database import EmbeddedPostgres, resolve_database_url
from hive.events.errors import (
    DRIVER_ERRORS,
    DatabaseUnavailable,
    DuplicateEventId,
    EventStoreError,
    InvalidTransition,
    StreamArchived,
    StreamTooLong,
    VersionConflict,
)
from hive.events.projections import Projection, ProjectionRunner, RebuildReport
from hive.events.snapshots import SnapshotStore
from hive.events.store import (
    ANY,
    NO_STREAM,
    START,
    AppendResult,
    Cursor,
    EventStore,
    NewEvent,
    RecordedEvent,
    create_pool,
)
from hive.events.subscription import subscribe

__all__ = [
    "ANY",
    "DRIVER_ERRORS",
    "NO_STREAM",
    "START",
    "AppendResult",
    "Cursor",
    "DatabaseUnavailable",
    "DuplicateEventId",
    "EmbeddedPostgres",
    "EventStore",
    "EventStoreError",
    "InvalidTransition",
    "NewEvent",
    "Projection",
    "ProjectionRunner",
    "RebuildReport",
    "RecordedEvent",
    "SnapshotStore",
    "StreamArchived",
    "StreamTooLong",
    "VersionConflict",
    "create_pool",
    "resolve_database_url",
    "subscribe",
]
