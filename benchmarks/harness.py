"""Shared pieces of the benchmark suites: a throwaway database and figure formatting."""

from __future__ import annotations

import contextlib
import os
import statistics
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg

from hive.events import migrate
from hive.events.database import resolve_database_url, with_database

REPO = Path(__file__).resolve().parents[1]


@contextlib.asynccontextmanager
async def bench_database(*, migrated: bool = True) -> AsyncIterator[str]:
    """A fresh database (embedded server in .hive/bench-pgdata unless DATABASE_URL), dropped after."""
    server, embedded = resolve_database_url(
        os.environ.get("DATABASE_URL"), REPO / ".hive" / "bench-pgdata"
    )
    name = f"hive_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(server, name)
    try:
        if migrated:
            await migrate.upgrade_async(url)
        yield url
    finally:
        conn = await asyncpg.connect(server)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        if embedded is not None:
            embedded.stop()


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) of the samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(samples: Sequence[float]) -> float:
    """Median of the samples."""
    return statistics.median(samples)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (Markdown-compatible) for the terminal and closing notes."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
