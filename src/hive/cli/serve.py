"""`hive serve ROLE [--port N]`: one service under granian."""

from __future__ import annotations

import argparse
import os
import sys

ROLES: dict[str, tuple[str, int]] = {
    "gateway": ("hive.gateway.main:app", 8080),
    "gateway-minimal": ("hive.gateway.minimal:app", 8080),
    "sandbox": ("hive.sandbox.main:app", 8091),
    "agent": ("hive.agent.main:app", 8090),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `serve` verb."""
    p = sub.add_parser("serve", help="run one service under granian")
    p.add_argument("role", choices=sorted(ROLES))
    p.add_argument("--port", type=int)
    p.add_argument("--host", default=os.environ.get("HIVE_BIND_HOST", "127.0.0.1"))
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(handler=_serve)


def granian_argv(role: str, host: str, port: int, workers: int = 1) -> list[str]:
    """The granian command line serving `role`."""
    target, _ = ROLES[role]
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-ws",
        target,
    ]


def _serve(args: argparse.Namespace) -> int:
    port = args.port or ROLES[args.role][1]
    argv = granian_argv(args.role, args.host, port, args.workers)
    os.execv(argv[0], argv)  # replaces this process: signals reach granian directly
