"""Alembic history and the `hive db` / `hive projections` verbs, as real subprocesses.

The CLI runs as the console script `uv run hive` executes (the venv's `hive`),
with DATABASE_URL pointed at a database of the test's own.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from workrun_events import artifact, attempt_started, created, seeded

from hive.events import NO_STREAM, EventStore, create_pool, migrate
from hive.sandbox.workruns.state import stream_id

HIVE = str(Path(sys.executable).with_name("hive"))  # the console script `uv run hive` runs
EVENT_STORE_TABLES = {"streams", "events", "projection_cursors", "snapshots", "work_runs"}


def hive(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `hive ARGS` against `url`."""
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(
        [HIVE, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


def history() -> list[str]:
    """Revisions from base to head."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y"))
    return [r.revision for r in reversed(list(scripts.walk_revisions()))]


async def tables(url: str) -> set[str]:
    """Tables in the public schema."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


# -- the history ---------------------------------------------------------------------------


def test_history_is_one_linear_chain() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y"))
    assert len(scripts.get_heads()) == 1, f"several heads: {scripts.get_heads()}"
    revisions = list(scripts.walk_revisions())
    assert all(not isinstance(r.down_revision, tuple) for r in revisions), "a merge revision"
    assert revisions[-1].down_revision is None
    assert migrate.head_revision() == revisions[0].revision


async def test_upgrade_from_empty_to_head(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    assert await migrate.current_revision(url) is None
    assert not await migrate.is_at_head(url)
    await migrate.upgrade_async(url)
    assert await migrate.current_revision(url) == migrate.head_revision()
    assert await migrate.is_at_head(url)
    assert await tables(url) >= EVENT_STORE_TABLES
    pool = await create_pool(url, max_size=2)
    try:
        result = await EventStore(pool).append("probe-1", [artifact("probe.txt")], NO_STREAM)
        assert result.last_version == 1
    finally:
        await pool.close()


async def test_downgrade_to_base_and_upgrade_again(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    await migrate.upgrade_async(url)
    await asyncio.to_thread(migrate.downgrade, url, "base")
    assert await migrate.current_revision(url) is None
    assert await tables(url) <= {"alembic_version"}
    await migrate.upgrade_async(url)
    assert await migrate.is_at_head(url)
    assert await tables(url) >= EVENT_STORE_TABLES


async def test_each_revision_steps_down_and_up(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    revs = history()
    for rev in revs:
        await migrate.upgrade_async(url, rev)
        assert await migrate.current_revision(url) == rev
    for below in reversed([None, *revs[:-1]]):
        await asyncio.to_thread(migrate.downgrade, url, below or "base")
        assert await migrate.current_revision(url) == below


# -- hive db ---------------------------------------------------------------------------------


def test_db_check_fails_on_an_empty_schema(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    check = hive(url, "db", "check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "empty schema" in check.stdout
    current = hive(url, "db", "current")
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == "(empty schema)"


def test_db_upgrade_then_check_and_current(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    head = migrate.head_revision()
    up = hive(url, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert head in up.stdout
    check = hive(url, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"head {head}" in check.stdout
    current = hive(url, "db", "current")
    assert current.returncode == 0 and current.stdout.strip() == head


@pytest.mark.skipif(len(history()) < 2, reason="needs a revision below head")
def test_db_check_fails_on_an_older_revision(empty_database: Callable[[], str]) -> None:
    url = empty_database()
    older = history()[-2]
    up = hive(url, "db", "upgrade", "--revision", older)
    assert up.returncode == 0, up.stderr
    check = hive(url, "db", "check")
    assert check.returncode == 1, check.stdout
    assert older in check.stdout and migrate.head_revision() in check.stdout
    assert hive(url, "db", "current").stdout.strip() == older


def test_unreachable_database_is_one_redacted_line_not_a_traceback() -> None:
    url = "postgresql://postgres:s3cr3t-pw@/hive?host=/nonexistent-socket-dir"
    for verb in (["db", "check"], ["db", "current"], ["projections", "status"]):
        out = hive(url, *verb)
        assert out.returncode == 2, verb
        assert "Traceback" not in out.stderr, out.stderr
        assert "cannot reach the database" in out.stderr
        assert "s3cr3t-pw" not in out.stdout + out.stderr


# -- hive projections --------------------------------------------------------------------------


async def test_projections_status_and_rebuild(
    migrated_database: Callable[[], Awaitable[str]],
) -> None:
    url = await migrated_database()
    pool = await create_pool(url, max_size=2)
    try:
        store = EventStore(pool)
        for i in range(5):
            task = f"cli{i}"
            await store.append(
                stream_id(task), [created(task), seeded(task), attempt_started(1)], NO_STREAM
            )
    finally:
        await pool.close()

    before = await asyncio.to_thread(hive, url, "projections", "status")
    assert before.returncode == 0, before.stderr
    assert "work_runs" in before.stdout and "never run" in before.stdout

    rebuild = await asyncio.to_thread(hive, url, "projections", "rebuild")
    assert rebuild.returncode == 0, rebuild.stderr
    figure = re.search(
        r"work_runs: (\d+) events into (\d+) rows .* ([\d,]+) events/s", rebuild.stdout
    )
    assert figure, rebuild.stdout
    assert (int(figure[1]), int(figure[2])) == (15, 5)

    after = await asyncio.to_thread(hive, url, "projections", "status")
    assert after.returncode == 0 and "never run" not in after.stdout
    assert re.search(r"work_runs\s.*\s15\s", after.stdout), after.stdout

    unknown = await asyncio.to_thread(hive, url, "projections", "rebuild", "no_such_projection")
    assert unknown.returncode == 2
    assert "unknown projection" in unknown.stdout
