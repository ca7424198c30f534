"""`hive demo`: one deterministic Work Run end to end through the gateway, as an operator.

Finds the running `hive dev` (the `dev.json` it records in its data dir:
`--data-dir`, else HIVE_DATA_DIR, else ./.hive; or `--gateway-url`), logs in
as `admin` (password from `--password-stdin`, HIVE_BOOTSTRAP_ADMIN_PASSWORD or
the data dir's secrets.json), creates a project (the gateway creates its
workspace), submits a `deterministic_proof` plan (write files, a governed
command, an artifact, checkpoints), follows the Work Run's events live over
SSE, shows the proposed patch, approves it, and prints the whole timeline.
Everything goes through the gateway's operator API, so the project and its
Work Run are what the dashboard and `GET /api/projects` show.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from hive.cli.database import data_dir
from hive.cli.dev_report import RECORD, read_record

TERMINAL = {"applied", "apply_failed", "rejected", "cancelled"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` verb."""
    p = sub.add_parser("demo", help="drive one deterministic Work Run through the gateway")
    p.add_argument("--data-dir", type=Path, help="data dir of the running `hive dev`")
    p.add_argument("--gateway-url", help="default: what `hive dev` recorded in its data dir")
    p.add_argument("--user", default="admin", help="operator to log in as (default: admin)")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the operator's password from stdin"
    )
    # Before issue 11 the demo talked to the sandbox; the flag is still accepted, and ignored.
    p.add_argument("--sandbox-url", help=argparse.SUPPRESS)
    p.add_argument("--no-approve", action="store_true", help="leave the task awaiting review")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the run")
    p.set_defaults(handler=_demo)


class DemoError(Exception):
    """Why the demo cannot go on (one line for the operator)."""


@dataclass(frozen=True)
class Target:
    """The running `hive dev` this demo drives."""

    gateway_url: str
    password: str
    user: str
    found: str
    """How the gateway URL was found (shown to the operator)."""


def find_target(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> Target:
    """The gateway URL and the operator's password, from flags, environment or the data dir."""
    data = args.data_dir or data_dir()
    record = read_record(data)
    if args.gateway_url:
        url, found = args.gateway_url, "--gateway-url"
    elif record is not None and record.get("gateway_url"):
        url, found = str(record["gateway_url"]), f"{data / RECORD}"
    elif args.data_dir is not None:
        raise DemoError(
            f"no running `hive dev` recorded in {args.data_dir} (no {RECORD}, or its process "
            "is gone); start it with HIVE_DATA_DIR pointing there, or pass --gateway-url"
        )
    else:
        url = f"http://127.0.0.1:{os.environ.get('HIVE_GATEWAY_PORT', '8080')}"
        found = f"default (no running `hive dev` recorded in {data})"
    if args.password_stdin:
        password = stdin.readline().rstrip("\n")
    else:
        password = os.environ.get("HIVE_BOOTSTRAP_ADMIN_PASSWORD") or _stored_password(data) or ""
    if not password:
        raise DemoError(
            f"no password for {args.user!r}: pass --password-stdin, set "
            f"HIVE_BOOTSTRAP_ADMIN_PASSWORD, or --data-dir of the `hive dev` that generated it"
        )
    return Target(url.rstrip("/"), password, args.user, found)


def _stored_password(data: Path) -> str | None:
    try:
        value = json.loads((data / "secrets.json").read_text()).get("HIVE_BOOTSTRAP_ADMIN_PASSWORD")
    except (OSError, ValueError):
        return None
    return str(value) if value else None


class Operator:
    """An operator session on the gateway (cookie + X-CSRFToken), failing with one line."""

    def __init__(self, target: Target) -> None:
        self.http = httpx.Client(base_url=target.gateway_url, timeout=30)
        try:
            r = self.http.post(
                "/api/auth/login", json={"username": target.user, "password": target.password}
            )
        except httpx.HTTPError as exc:
            raise DemoError(
                f"the gateway at {target.gateway_url} is not reachable ({exc}); "
                "is `hive dev` running?"
            ) from exc
        _expect(r, 200, "login")
        self.http.headers["X-CSRFToken"] = self.http.cookies.get("csrftoken") or ""

    def call(self, method: str, path: str, expect: int, what: str, **kw: Any) -> Any:
        """One JSON call; DemoError naming the gateway's problem on another status."""
        return _expect(self.http.request(method, path, **kw), expect, what).json()


def _expect(r: httpx.Response, status: int, what: str) -> httpx.Response:
    if r.status_code != status:
        try:
            detail = r.json().get("detail") or r.text
        except ValueError:
            detail = r.text
        raise DemoError(f"{what}: {r.status_code} {detail}")
    return r


PLAN = {
    "steps": [
        {"write": {"path": "hello.py", "content": "print('hello from a Work Run')\n"}},
        {"run": {"argv": ["ls", "-la"]}},
        {"sleep": {"seconds": 0.5}},
        {"artifact": {"name": "summary.txt", "content": "wrote hello.py, listed the repo"}},
        {
            "write": {
                "path": "README.md",
                "content": "# demo workspace\n\nPatched by a Work Run of `hive demo`.\n",
            }
        },
    ]
}


def _detail(ev: dict[str, Any]) -> str:
    p = ev["payload"]
    match ev["event_type"]:
        case "DevTaskCreated":
            return f"project {p['project_id']}, backend {p['backend']}"
        case "WorkspaceSeeded":
            return (
                f"{p['source']}: {p['file_count']} files, baseline {str(p['baseline_commit'])[:10]}"
            )
        case "AttemptStarted":
            resumed = p.get("resumed_from_checkpoint")
            extra = f", resumed from checkpoint {resumed}" if resumed else ""
            return f"attempt {p['attempt_no']} ({p['execution_class']}){extra}"
        case "CheckpointRecorded":
            return (
                f"#{p['checkpoint_sequence_no']} durable={p['durable']} "
                f"{json.dumps(p['checkpoint_payload'])}"
            )
        case "CommandStarted":
            return " ".join(p["argv"])
        case "CommandFinished":
            return f"{p['state']} exit {p.get('exit_code')}"
        case "ArtifactRecorded":
            return f"{p['name']} {p['size_bytes']} B sha256 {p['sha256'][:12]}"
        case "PatchProposed":
            return f"{p['files_changed']} files +{p['insertions']} -{p['deletions']}: " + ", ".join(
                p["paths"]
            )
        case "AttemptFinished":
            return f"attempt {p['attempt_no']} {p['outcome']}" + (
                f" ({p['reason']})" if p.get("reason") else ""
            )
        case "PatchApplied":
            return f"{p['mode']} -> {p.get('target')}"
        case "PatchApplyFailed":
            return f"{p['mode']}: {p['reason']}"
    return ""


def _line(ev: dict[str, Any], t0: datetime) -> str:
    at = datetime.fromisoformat(ev["recorded_at"].replace("Z", "+00:00"))
    offset = (at - t0).total_seconds()
    return f"  +{offset:7.3f}s  v{ev['stream_version']:<3} {ev['event_type']:<20} {_detail(ev)}"


def _follow(http: httpx.Client, path: str, until: set[str], timeout_s: float) -> list[Any]:
    """Print events live (SSE) until one of `until` arrives; return all seen."""
    seen: list[dict[str, Any]] = []
    t0: datetime | None = None
    with http.stream(
        "GET",
        path,
        headers={"Accept": "text/event-stream"},
        timeout=httpx.Timeout(10.0, read=timeout_s),
    ) as resp:
        _expect(resp, 200, "event stream")
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            ev = json.loads(line[5:])
            seen.append(ev)
            t0 = t0 or datetime.fromisoformat(ev["recorded_at"].replace("Z", "+00:00"))
            print(_line(ev, t0), flush=True)
            if ev["event_type"] in until:
                break
    return seen


def _wait_state(op: Operator, path: str, states: set[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status: dict[str, Any] = op.call("GET", path, 200, "status")
        if status["state"] in states or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def _demo(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except DemoError as exc:
        print(f"hive demo: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"hive demo: lost the gateway: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.sandbox_url:
        print("hive demo: --sandbox-url is ignored: the demo goes through the gateway")
    target = find_target(args)
    op = Operator(target)
    print(f"gateway {target.gateway_url} (found: {target.found}), logged in as {target.user}")
    project = op.call(
        "POST",
        "/api/projects",
        201,
        "create project",
        json={"name": "demo-" + time.strftime("%Y%m%d-%H%M%S")},
    )
    pid, workspace = project["project_id"], Path(project["workspace_path"])
    print(f"project {project['name']} ({pid}), workspace {workspace}")
    base = f"/api/projects/{pid}/dev-tasks"
    task = op.call(
        "POST",
        base,
        201,
        "create Work Run",
        json={"backend": "deterministic_proof", "instructions": json.dumps(PLAN)},
    )
    path = f"{base}/{task['task_id']}"
    print(f"Work Run {task['task_id']} ({path})\n\ntimeline (live):")
    _follow(op.http, path + "/events", {"AttemptFinished"}, args.timeout)
    status = _wait_state(op, path, {"awaiting_review", "failed", "cancelled"}, args.timeout)
    if status["state"] != "awaiting_review":
        print(f"\nthe attempt ended {status['state']}: {status.get('reason')}")
        return 1
    print("\nproposed patch:\n" + _expect(op.http.get(path + "/patch"), 200, "patch").text)
    if args.no_approve:
        print(f"left awaiting review: POST {target.gateway_url}{path}/approve")
        return 0
    op.call("POST", path + "/approve", 200, "approve", json={})
    status = _wait_state(op, path, TERMINAL, args.timeout)
    events = op.call("GET", path + "/events", 200, "events")
    t0 = datetime.fromisoformat(events[0]["recorded_at"].replace("Z", "+00:00"))
    print("timeline (complete):")
    for ev in events:
        print(_line(ev, t0))
    print(
        f"\nstate: {status['state']}" + (f" ({status['reason']})" if status.get("reason") else "")
    )
    if status["state"] == "applied" and workspace.is_dir():
        files = sorted(p.name for p in workspace.iterdir() if p.name != ".git")
        print(f"applied to {workspace}: " + ", ".join(files))
    return 0 if status["state"] == "applied" else 1
