"""Alembic, driven from code: upgrade, current revision, check against head.

One migration history for the whole product lives in `hive/events/migrations`;
services add their tables as further revisions there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from hive.events.database import sqlalchemy_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """An Alembic config pointed at the packaged migrations and this database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()
    assert head is not None
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database to `revision` (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database down to `revision`."""
    command.downgrade(alembic_config(url), revision)


async def current_revision(url: str) -> str | None:
    """The revision the database is at, or None for an empty schema."""
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def is_at_head(url: str) -> bool:
    """True when the schema is exactly at the head revision."""
    return await current_revision(url) == head_revision()


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` from async code (Alembic's env runs its own loop, so use a thread)."""
    await asyncio.to_thread(upgrade, url, revision)
