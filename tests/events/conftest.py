"""Fixtures of the event-store tests: databases private to one module or one test.

Most tests share the session database and isolate themselves with unique stream
ids and categories. Tests that own global state (projection cursors, the
`work_runs` table, a full rebuild) get a database of their own instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from private_databases import create_database, drop_database

from hive.events import EventStore, create_pool


@pytest.fixture(scope="module")
async def private_database_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated to head, private to one test module."""
    url = await create_database(server_url, migrated=True)
    yield url
    await drop_database(server_url, url)


@pytest.fixture(scope="module")
async def private_pool(private_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the module's private database."""
    pool = await create_pool(private_database_url, max_size=6)
    yield pool
    await pool.close()


@pytest.fixture
async def private_store(private_pool: asyncpg.Pool) -> AsyncIterator[EventStore]:
    """An EventStore on an emptied private database (one test's global state)."""
    async with private_pool.acquire() as conn:
        await conn.execute("TRUNCATE events, streams, projection_cursors, snapshots, work_runs")
    yield EventStore(private_pool)


@pytest.fixture
async def migrated_database(server_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Factory of fresh databases migrated to head, dropped after the test."""
    created: list[str] = []

    async def make() -> str:
        url = await create_database(server_url, migrated=True)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(server_url, url)
