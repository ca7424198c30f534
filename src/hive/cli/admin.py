"""`hive admin create-user NAME` (password from stdin)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from hive.cli.database import database_url


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `admin` verbs."""
    p = sub.add_parser("admin", help="operator accounts")
    asub = p.add_subparsers(dest="admin_verb", required=True)
    cu = asub.add_parser("create-user", help="create or reset a user; password on stdin")
    cu.add_argument("name")
    cu.set_defaults(handler=_create_user)


def _create_user(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("hive: password must be at least 8 characters", file=sys.stderr)
        return 2
    try:
        users = importlib.import_module("hive.gateway.operators.users")
    except ImportError:
        print("hive: the gateway is not installed", file=sys.stderr)
        return 2
    with database_url() as url:
        asyncio.run(users.create_or_reset_user(url, args.name, password))
    print(f"user {args.name} ready")
    return 0
