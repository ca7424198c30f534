"""Startup wiring of the full gateway: database, schema per migration mode, bootstrap admin.

`HIVE_STARTUP_MIGRATION_MODE`:
- `check` (default): refuse unless the schema is exactly at the Alembic head;
  never mutate it. With `HIVE_METADATA_CREATE_ON_STARTUP=true` an *empty*
  database is the one exception: it is created at head.
- `upgrade`: migrate to head (local use; `hive dev`).
- `off`: no check at all (creation of an empty database still follows
  `HIVE_METADATA_CREATE_ON_STARTUP`).

Migrations run under a PostgreSQL advisory lock, so several gateway workers
(or replicas) starting together migrate once. Failures are `StartupError`s
naming the setting to fix.
"""

from __future__ import annotations

import asyncio

import asyncpg

from hive.events import create_pool, migrate
from hive.events.database import asyncpg_dsn, redact
from hive.gateway.operators.passwords import hash_password
from hive.gateway.operators.users import UserRepository
from hive.gateway.settings import GatewaySettings

# Arbitrary constant shared by every gateway: "hivemigr" in ASCII.
MIGRATION_LOCK = 0x686976656D696772


class StartupError(RuntimeError):
    """Wiring failed; `setting` names what the operator should look at."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


async def _migrate_locked(url: str, target_check: bool) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            # Another worker may have finished while this one waited.
            if not target_check or await migrate.current_revision(url) is None:
                await migrate.upgrade_async(url)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()


async def prepare_schema(settings: GatewaySettings) -> str:
    """Bring the schema to what the migration mode demands; return a status line."""
    url = settings.database_url
    head = migrate.head_revision()
    try:
        current = await migrate.current_revision(url)
    except Exception as exc:  # SQLAlchemy/asyncpg raise many kinds on connect
        raise StartupError(
            "DATABASE_URL", f"cannot read the schema version of {redact(url)}: {exc}"
        ) from exc
    mode = settings.migration_mode
    try:
        if mode == "upgrade":
            await _migrate_locked(url, target_check=False)
            return f"schema upgraded to {head}"
        if current is None and settings.metadata_create:
            await _migrate_locked(url, target_check=True)
            return f"empty database created at {head}"
    except StartupError:
        raise
    except Exception as exc:  # Alembic surfaces the driver's errors unchanged
        raise StartupError(
            "HIVE_STARTUP_MIGRATION_MODE", f"migration to {head} failed: {exc}"
        ) from exc
    if mode == "check" and current != head:
        raise StartupError(
            "HIVE_STARTUP_MIGRATION_MODE",
            f"check: the database schema is at {current or 'nothing (empty)'}, this gateway "
            f"needs {head}; run `hive db upgrade` first (check mode never migrates)",
        )
    return f"schema at {current} (mode {mode})"


async def connect(settings: GatewaySettings) -> asyncpg.Pool:
    """The gateway's pool, or StartupError naming DATABASE_URL."""
    try:
        return await asyncio.wait_for(
            create_pool(settings.database_url, min_size=2, max_size=20), timeout=30
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise StartupError(
            "DATABASE_URL", f"cannot connect to {redact(settings.database_url)}: {exc}"
        ) from exc


async def bootstrap_admin(settings: GatewaySettings, users: UserRepository) -> bool:
    """Create operator `admin` from HIVE_BOOTSTRAP_ADMIN_PASSWORD unless it exists."""
    if not settings.bootstrap_admin_password:
        return False
    if await users.by_username("admin") is not None:
        return False  # an operator may have changed it since; never reset on restart
    return await users.create_if_missing(
        "admin", await hash_password(settings.bootstrap_admin_password), is_admin=True
    )
