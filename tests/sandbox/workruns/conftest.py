"""Fixtures of the Work Run tests: a database private to each module.

Work Run workers claim *any* pending attempt in their database, so every
module that runs attempts gets a database of its own: no other test's sandbox
can claim its tasks, and rebuild-vs-live comparisons see only its streams.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hive.events import migrate
from hive.events.database import with_database


async def create_migrated_database(server_url: str) -> str:
    """A new database at the Alembic head; return its DSN."""
    name = f"hive_wr_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = with_database(server_url, name)
    await migrate.upgrade_async(url)
    return url


async def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by create_migrated_database."""
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def workrun_db(server_url: str) -> AsyncIterator[str]:
    """A migrated database private to one test module."""
    url = await create_migrated_database(server_url)
    yield url
    await drop_database(server_url, url)
