"""`hive demo`: one deterministic Work Run end to end against a running `hive dev`.

Creates a small git workspace under the data dir, submits a
`deterministic_proof` plan to the sandbox (write files, a governed command,
an artifact, checkpoints), follows the task's event stream live over SSE,
shows the proposed patch, approves it, and prints the whole timeline. The
internal secret comes from `HIVE_INTERNAL_SECRET` or `<data dir>/secrets.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from hive.events.database import data_dir

TERMINAL = {"applied", "apply_failed", "rejected", "cancelled"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` verb."""
    p = sub.add_parser("demo", help="drive one deterministic Work Run end to end")
    p.add_argument("--sandbox-url", help="default: HIVE_SANDBOX_URL or 127.0.0.1:HIVE_SANDBOX_PORT")
    p.add_argument("--no-approve", action="store_true", help="leave the task awaiting review")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the run")
    p.set_defaults(handler=_demo)


def _secret() -> str | None:
    if secret := os.environ.get("HIVE_INTERNAL_SECRET"):
        return secret
    path = data_dir() / "secrets.json"
    if path.exists():
        value = json.loads(path.read_text()).get("HIVE_INTERNAL_SECRET")
        return str(value) if value else None
    return None


def _demo_workspace() -> Path:
    """A fresh git repo the sandbox can see (same machine as `hive dev`)."""
    root = data_dir() / "workspace" / "demo" / time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# demo workspace\n\nCreated by `hive demo`.\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_GLOBAL": os.devnull}
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=hive demo", "-c", "user.email=demo@openhive.invalid",
         "commit", "-qm", "demo workspace"],
    ):  # fmt: skip
        subprocess.run(argv, cwd=root, env=env, check=True)
    return root


PLAN = {
    "steps": [
        {"write": {"path": "hello.py", "content": "print('hello from a Work Run')\n"}},
        {"run": {"argv": ["ls", "-la"]}},
        {"sleep": {"seconds": 0.5}},
        {"artifact": {"name": "summary.txt", "content": "wrote hello.py, listed the repo"}},
        {
            "write": {
                "path": "README.md",
                "content": "# demo workspace\n\nCreated by `hive demo`.\n\nPatched by a Work Run.\n",
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


def _follow(http: httpx.Client, task_id: str, until: set[str], timeout_s: float) -> list[Any]:
    """Print events live (SSE) until one of `until` arrives; return all seen."""
    seen: list[dict[str, Any]] = []
    t0: datetime | None = None
    with http.stream(
        "GET",
        f"/dev-tasks/{task_id}/events",
        headers={"Accept": "text/event-stream"},
        timeout=httpx.Timeout(10.0, read=timeout_s),
    ) as resp:
        resp.raise_for_status()
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


def _demo(args: argparse.Namespace) -> int:
    secret = _secret()
    if not secret:
        print("hive demo: no HIVE_INTERNAL_SECRET and no .hive/secrets.json; is `hive dev` running here?",
              file=sys.stderr)  # fmt: skip
        return 2
    url = (
        args.sandbox_url
        or os.environ.get("HIVE_SANDBOX_URL")
        or (f"http://127.0.0.1:{os.environ.get('HIVE_SANDBOX_PORT', '8091')}")
    )
    http = httpx.Client(base_url=url, headers={"X-Internal-Secret": secret}, timeout=30)
    try:
        health = http.get("/healthz").json()
    except httpx.HTTPError as exc:
        print(f"hive demo: the sandbox at {url} is not reachable ({exc}); start `hive dev`",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"sandbox {url}: {health.get('status')}, worker {health.get('worker')}")
    workspace = _demo_workspace()
    print(f"workspace {workspace}")
    r = http.post(
        "/dev-tasks",
        json={
            "project_id": "demo",
            "instructions": json.dumps(PLAN),
            "backend": "deterministic_proof",
            "workspace": {"requested_path": str(workspace)},
        },
    )
    if r.status_code != 201:
        print(f"hive demo: create failed: {r.status_code} {r.text}", file=sys.stderr)
        return 1
    task_id = r.json()["task_id"]
    print(f"task {task_id}\n\ntimeline (live):")
    try:
        _follow(http, task_id, {"AttemptFinished"}, args.timeout)
    except httpx.HTTPError as exc:
        print(f"hive demo: lost the event stream: {exc}", file=sys.stderr)
        return 1
    status = http.get(f"/dev-tasks/{task_id}").json()
    if status["state"] != "awaiting_review":
        print(f"\nthe attempt ended {status['state']}: {status.get('reason')}")
        return 1
    print("\nproposed patch:\n" + http.get(f"/dev-tasks/{task_id}/patch").text)
    if args.no_approve:
        print(f"left awaiting review: POST {url}/dev-tasks/{task_id}/approve")
        return 0
    status = http.post(f"/dev-tasks/{task_id}/approve", json={"actor": "hive demo"}).json()
    events = http.get(f"/dev-tasks/{task_id}/events").json()
    t0 = datetime.fromisoformat(events[0]["recorded_at"].replace("Z", "+00:00"))
    print("timeline (complete):")
    for ev in events:
        print(_line(ev, t0))
    print(
        f"\nstate: {status['state']}" + (f" ({status['reason']})" if status.get("reason") else "")
    )
    if status["state"] == "applied":
        print(f"applied to {workspace}: " + ", ".join(sorted(p.name for p in workspace.iterdir()
                                                             if p.name != ".git")))  # fmt: skip
    return 0 if status["state"] == "applied" else 1
