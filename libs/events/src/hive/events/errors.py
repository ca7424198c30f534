"""The event store's error hierarchy (driver errors are translated at the edge).

Each error carries its stable `code` (hive.contracts.problems maps it to HTTP):

HiveError
 └── EventStoreError
      ├── VersionConflict        expected version did not match the stream
      ├── StreamArchived         the stream no longer accepts appends
      ├── StreamTooLong          the append would pass the hard stream length
      ├── DuplicateEventId       an event id already stored elsewhere
      ├── InvalidTransition      an event the stream's state machine refuses (e.g. the Work Run's)
      └── DatabaseUnavailable    no database could be reached or started

`DRIVER_ERRORS` translates what asyncpg raises past the store (a repository's
own query) for the app's `ProblemDetails` plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import asyncpg

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError, Translation


class EventStoreError(HiveError):
    """Base of every error raised by hive.events."""

    code = ErrorCode.CONFLICT


class VersionConflict(EventStoreError):
    """The stream's version was not the expected one."""

    code = ErrorCode.VERSION_CONFLICT

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

    code = ErrorCode.STREAM_TOO_LONG

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

    code = ErrorCode.INVALID_STATE_TRANSITION

    def __init__(self, state: str, event_type: str, detail: str | None = None) -> None:
        msg = f"{event_type} is not allowed in state {state!r}"
        super().__init__(f"{msg}: {detail}" if detail else msg)
        self.state = state
        self.event_type = event_type


class DatabaseUnavailable(EventStoreError):
    """The database could not be reached, started or migrated."""

    code = ErrorCode.UNAVAILABLE


_DOWN = Translation(ErrorCode.UNAVAILABLE, "database unavailable", warn=True)

DRIVER_ERRORS: Final[Mapping[type[Exception], Translation]] = {
    # PostgreSQL refused a value (a NUL in text, an out-of-range number): the
    # caller's input, not a server fault.
    asyncpg.DataError: Translation(ErrorCode.VALIDATION_FAILED, "a value cannot be stored: {name}"),
    # The database went away after startup: a temporary 503, not a server bug.
    asyncpg.PostgresConnectionError: _DOWN,
    asyncpg.InterfaceError: _DOWN,
    ConnectionError: _DOWN,
}
