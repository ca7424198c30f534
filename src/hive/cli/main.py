"""`hive`: the one command line of OpenHive (verbs are a public contract)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from hive.cli import admin, db, demo, dev, projections, serve
from hive.contracts.settings import SettingsError


def build_parser() -> argparse.ArgumentParser:
    """Every verb and its options."""
    parser = argparse.ArgumentParser(prog="hive", description="OpenHive control plane")
    sub = parser.add_subparsers(dest="verb", required=True)
    for module in (dev, db, serve, projections, demo, admin):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `hive` console script."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
    except SettingsError as exc:  # one line naming the variable, not a traceback
        print(f"hive {args.verb}: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
