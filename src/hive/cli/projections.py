"""`hive projections rebuild [NAME ...] | status`."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from hive.cli.database import database_url
from hive.events import EventStore, ProjectionRunner, create_pool
from hive.events.projections import Projection
from hive.sandbox.workruns.projection import WorkRunProjection

PROJECTIONS: dict[str, type[Projection]] = {WorkRunProjection.name: WorkRunProjection}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `projections` verbs."""
    p = sub.add_parser("projections", help="read models built from the event streams")
    psub = p.add_subparsers(dest="projections_verb", required=True)
    rb = psub.add_parser("rebuild", help="replay every stream into the read models")
    rb.add_argument(
        "names", nargs="*", metavar="NAME", help=f"default: all ({', '.join(PROJECTIONS)})"
    )
    rb.add_argument("--batch-size", type=int, default=20_000)
    rb.set_defaults(handler=_rebuild)
    psub.add_parser("status", help="cursor and event count of each projection").set_defaults(
        handler=_status
    )


async def rebuild(url: str, names: list[str], batch_size: int, console: Console) -> int:
    """Rebuild the named projections with a progress bar; print events/s."""
    unknown = [n for n in names if n not in PROJECTIONS]
    if unknown:
        console.print(
            f"unknown projection(s): {', '.join(unknown)}; known: {', '.join(PROJECTIONS)}"
        )
        return 2
    pool = await create_pool(url, max_size=2)
    try:
        store = EventStore(pool)
        runner = ProjectionRunner(store)
        async with pool.acquire() as c:
            total = await c.fetchval("SELECT count(*) FROM events")
        for name in names or list(PROJECTIONS):
            projection = PROJECTIONS[name]()
            with Progress(
                TextColumn(f"[bold]{name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task(name, total=total)

                def advance(n: int, task: TaskID = task) -> None:
                    bar.advance(task, n)

                report = await runner.rebuild(projection, batch_size=batch_size, progress=advance)
            console.print(
                f"{name}: {report.events} events into {report.rows} rows in "
                f"{report.seconds:.2f} s = {report.events_per_s:,.0f} events/s"
            )
    finally:
        await pool.close()
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    with database_url() as url:
        return asyncio.run(rebuild(url, args.names, args.batch_size, Console()))


async def _print_status(url: str) -> None:
    pool = await create_pool(url, max_size=1)
    try:
        statuses = await ProjectionRunner(EventStore(pool)).status()
    finally:
        await pool.close()
    table = Table("projection", "cursor (tx, position)", "events", "code version", "updated")
    known = {s.name for s in statuses}
    for s in statuses:
        table.add_row(
            s.name,
            f"{s.cursor.tx_id}, {s.cursor.global_position}",
            str(s.events_processed),
            str(s.code_version),
            str(s.updated_at),
        )
    for name in PROJECTIONS:
        if name not in known:
            table.add_row(name, "never run", "0", "-", "-")
    Console().print(table)


def _status(_: argparse.Namespace) -> int:
    with database_url() as url:
        asyncio.run(_print_status(url))
    return 0
