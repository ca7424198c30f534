"""The event store's error hierarchy (driver errors are translated at the edge).

EventStoreError
 ├── VersionConflict        expected version did not match the stream
 ├── StreamArchived         the stream no longer accepts appends
 ├── StreamTooLong          the append would pass the hard stream length
 ├── DuplicateEventId       an event id already stored elsewhere
 ├── InvalidTransition      a Work Run event illegal in the stream's state
 └── DatabaseUnavailable    no database could be reached or started
"""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error raised by hive.events."""


class VersionConflict(EventStoreError):
    """The stream's version was not the expected one."""

    def __init__(self, stream_id: str, expected: object, actual: int | None) -> None:
        super().__init__(f"stream {stream_id!r}: expected version {expected}, actual {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StreamArchived(EventStoreError):
    """Appends to an archived stream are refused."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} is archived")
        self.stream_id = stream_id


class StreamTooLong(EventStoreError):
    """The append would exceed the hard stream length."""

    def __init__(self, stream_id: str, length: int, hard_limit: int) -> None:
        super().__init__(
            f"stream {stream_id!r} would reach {length} events, hard limit {hard_limit}"
        )
        self.stream_id = stream_id
        self.length = length
        self.hard_limit = hard_limit


class DuplicateEventId(EventStoreError):
    """An event id in the batch is already stored at another place."""


class InvalidTransition(EventStoreError):
    """The event is not allowed in the stream's current state."""

    def __init__(self, state: str, event_type: str, detail: str | None = None) -> None:
        msg = f"{event_type} is not allowed in state {state!r}"
        super().__init__(f"{msg}: {detail}" if detail else msg)
        self.state = state
        self.event_type = event_type


class DatabaseUnavailable(EventStoreError):
    """The database could not be reached, started or migrated."""
