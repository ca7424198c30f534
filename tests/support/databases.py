"""Databases of a test's own on the session's PostgreSQL server."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg

from hive.events import migrate
from hive.events.database import with_database


async def create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def migrated_database(server_url: str, prefix: str = "hive_test") -> AsyncIterator[str]:
    """A freshly created database migrated to head, dropped on exit.

    Tests that run sandbox servers and need nobody else's worker or command reaper
    on their database (replicas share HIVE_SANDBOX_ROOT in production; test servers
    do not) override `database_url` with this at module scope.
    """
    name = await create_database(server_url, prefix)
    url = with_database(server_url, name)
    try:
        await migrate.upgrade_async(url)
        yield url
    finally:
        await drop_database(server_url, name)
