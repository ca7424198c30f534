"""Databases of a test's own on the session's server: create (optionally from a template), drop.

Kept out of conftest.py so test modules can import it by a name no other
directory's conftest shadows.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import asyncpg

from hive.events import migrate
from hive.events.database import with_database


async def create_database(server_url: str, *, migrated: bool, template: str | None = None) -> str:
    """Create a uniquely named database on the server (a copy of `template`'s DSN when
    given); return its DSN."""
    name = f"hive_ev_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{database_name(template)}"' if template else ""
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    url = with_database(server_url, name)
    if migrated:
        await migrate.upgrade_async(url)
    return url


def database_name(url: str) -> str:
    """The database a DSN names (the path; the socket dir may sit in the query)."""
    return urlsplit(url).path.lstrip("/")


async def drop_database(server_url: str, url: str) -> None:
    """Drop a database created by create_database."""
    name = database_name(url)
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
