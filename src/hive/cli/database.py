"""The CLI's way to a database: DATABASE_URL, else the embedded server in the data dir."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator

import asyncpg

from hive.events.database import redact, resolve_database_url
from hive.events.errors import DatabaseUnavailable


async def _reachable(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=15)
    await conn.close()


@contextlib.contextmanager
def database_url() -> Iterator[str]:
    """Yield a DSN of a reachable database; an embedded server started here is released on exit."""
    try:
        url, embedded = resolve_database_url()
    except DatabaseUnavailable as exc:
        print(f"hive: database unavailable: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    try:
        # A wrong DATABASE_URL is the operator's to fix: one line saying so, not a traceback.
        try:
            asyncio.run(_reachable(url))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            print(f"hive: cannot reach the database at {redact(url)}: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
        yield url
    finally:
        if embedded is not None:
            embedded.stop()


__all__ = ["database_url", "redact"]
