"""Finding the database: DATABASE_URL when set, else an embedded PostgreSQL in the data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from hive.cli.database import configured_database
from hive.events.database import (
    asyncpg_dsn,
    redact,
    resolve_database_url,
    sqlalchemy_url,
    with_database,
)

HIVE = Path(sys.executable).with_name("hive")  # the console script `uv run hive` runs


async def data_directory(url: str) -> str:
    """The server's data directory, asked over the DSN."""
    conn = await asyncpg.connect(url, timeout=30)
    try:
        return str(await conn.fetchval("SHOW data_directory"))
    finally:
        await conn.close()


@pytest.fixture
def pg_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short temp dir (the server's unix socket path must stay under ~100 bytes)."""
    return tmp_path_factory.mktemp("pg", numbered=True)


async def test_embedded_server_starts_in_the_data_dir_and_is_reused(
    pg_parent: Path,
) -> None:
    pgdata = pg_parent / "pgdata"
    url, first = resolve_database_url(None, pgdata)
    assert first is not None
    try:
        assert Path(await data_directory(url)).resolve() == pgdata.resolve()
        assert (pgdata / "postmaster.pid").exists()

        again, second = resolve_database_url(None, pgdata)
        assert again == url
        assert second is not None
        # Releasing one handle keeps the server up for the other.
        second.stop()
        assert Path(await data_directory(url)).resolve() == pgdata.resolve()

        # Another process (the CLI) reuses the running server and leaves it running.
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["HIVE_DATA_DIR"] = str(pg_parent)
        out = subprocess.run(
            [str(HIVE), "db", "current"], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert "(empty schema)" in out.stdout
        assert Path(await data_directory(url)).resolve() == pgdata.resolve()
    finally:
        first.stop()
    # The last handle stops the server cleanly.
    assert not (pgdata / "postmaster.pid").exists()


def test_a_given_url_wins_over_the_embedded_server(tmp_path: Path) -> None:
    url, embedded = resolve_database_url(
        "postgresql+asyncpg://u:pw@db.example:5433/hive", tmp_path / "never-created"
    )
    assert (url, embedded) == ("postgresql://u:pw@db.example:5433/hive", None)
    assert not (tmp_path / "never-created").exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+asyncpg://u:p@h:5/db", "postgresql://u:p@h:5/db"),
        ("postgres://u@h/db", "postgresql://u@h/db"),
        ("postgresql://postgres:@/db?host=/run/pg", "postgresql://postgres:@/db?host=/run/pg"),
    ],
)
def test_asyncpg_dsn(given: str, expected: str) -> None:
    assert asyncpg_dsn(given) == expected


def test_sqlalchemy_url_and_with_database() -> None:
    assert (
        sqlalchemy_url("postgres://u@/db?host=/run/pg") == "postgresql+asyncpg://u@/db?host=/run/pg"
    )
    assert sqlalchemy_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert (
        with_database("postgresql+asyncpg://u:p@h:5/a?host=/s", "b")
        == "postgresql://u:p@h:5/b?host=/s"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://hive:s3cr3t-pw@db.internal:5432/hive",
        "postgresql+asyncpg://hive:s3cr3t-pw@db.internal/hive?sslmode=require",
        "postgresql://hive@db.internal/hive?password=s3cr3t-pw&sslmode=require",
    ],
)
def test_redact_hides_the_password(url: str) -> None:
    shown = redact(url)
    assert "s3cr3t-pw" not in shown
    assert "***" in shown
    assert "db.internal" in shown and "hive" in shown


def test_redact_leaves_urls_without_password_alone() -> None:
    url = "postgresql://postgres:@/hive?host=/tmp/sock"
    assert redact(url) == url


def test_the_cli_takes_database_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@db.example:5433/hive")
    monkeypatch.setenv("HIVE_DATA_DIR", str(tmp_path))
    url, embedded = configured_database()
    assert (url, embedded) == ("postgresql://u:pw@db.example:5433/hive", None)
    assert not (tmp_path / "pgdata").exists()
