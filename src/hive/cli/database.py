"""The CLI's way to a database: DATABASE_URL, else the embedded server in the data dir."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from hive.events.database import redact, resolve_database_url
from hive.events.errors import DatabaseUnavailable


@contextlib.contextmanager
def database_url() -> Iterator[str]:
    """Yield a DSN; an embedded server started here is released on exit."""
    try:
        url, embedded = resolve_database_url()
    except DatabaseUnavailable as exc:
        print(f"hive: database unavailable: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


__all__ = ["database_url", "redact"]
