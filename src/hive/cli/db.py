"""`hive db upgrade | check | current`."""

from __future__ import annotations

import argparse
import asyncio

from hive.cli.database import database_url
from hive.events import migrate


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `db` verbs."""
    p = sub.add_parser("db", help="schema migrations (Alembic)")
    dbsub = p.add_subparsers(dest="db_verb", required=True)
    up = dbsub.add_parser("upgrade", help="migrate to head (or --revision)")
    up.add_argument("--revision", default="head")
    up.set_defaults(handler=_upgrade)
    dbsub.add_parser("check", help="exit non-zero unless the schema is at head").set_defaults(
        handler=_check
    )
    dbsub.add_parser("current", help="print the current revision").set_defaults(handler=_current)


def _upgrade(args: argparse.Namespace) -> int:
    with database_url() as url:
        migrate.upgrade(url, args.revision)
        print(f"database at {asyncio.run(migrate.current_revision(url))}")
    return 0


def _check(_: argparse.Namespace) -> int:
    with database_url() as url:
        current = asyncio.run(migrate.current_revision(url))
    head = migrate.head_revision()
    if current == head:
        print(f"ok: database at head {head}")
        return 0
    print(f"database at {current or 'an empty schema'}, head is {head}: run `hive db upgrade`")
    return 1


def _current(_: argparse.Namespace) -> int:
    with database_url() as url:
        print(asyncio.run(migrate.current_revision(url)) or "(empty schema)")
    return 0
