"""The CLI's way to a database: DATABASE_URL, else the embedded server in the data dir."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from hive.events.database import EmbeddedPostgres, redact, resolve_database_url
from hive.events.errors import DatabaseUnavailable


def data_dir() -> Path:
    """`HIVE_DATA_DIR`, default `.hive` under the current directory."""
    return Path(os.environ.get("HIVE_DATA_DIR") or ".hive").absolute()


def configured_database() -> tuple[str, EmbeddedPostgres | None]:
    """`DATABASE_URL` when set, else the embedded server in `<data dir>/pgdata` (started)."""
    return resolve_database_url(os.environ.get("DATABASE_URL"), data_dir() / "pgdata")


async def _reachable(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=15)
    await conn.close()


@contextlib.contextmanager
def database_url() -> Iterator[str]:
    """Yield a DSN of a reachable database; an embedded server started here is released on exit."""
    try:
        url, embedded = configured_database()
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


__all__ = ["configured_database", "data_dir", "database_url", "redact"]
