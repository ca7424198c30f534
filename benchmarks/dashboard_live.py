"""Dashboard: live latency and first render of a big timeline, in a real headless Chromium.

Not a test (no assertions on time). Starts a throwaway database, a sandbox (worker on,
deterministic_proof), a gateway and the standalone dashboard, then:

1. commit -> visible: a Work Run whose attempt sleeps is opened in the browser; 100
   checkpoints are committed one by one through the sandbox API; for each, the time from
   the commit (the POST answered) to its mark entering the page's DOM. Peer, same run:
   a raw SSE client reading the gateway's event stream directly (no dashboard, no render).
2. first render of a 5,000-event timeline: a fresh page load until every mark is in the
   DOM. Peer: fetching the same 5,000 events as JSON from the gateway. Then commit ->
   visible again, on that big timeline (every live batch re-lays out 5,000 marks).

    uv run python -m benchmarks dashboard_live      (needs `make web` and chromium)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import bench_database, percentile, table
from tests.support.dashboard_server import WEB, DashboardServer
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer

CHECKPOINTS = 100
BIG_TIMELINE = 5000
LIVE_ON_BIG = 30
SLEEPING_PLAN = json.dumps({"steps": [{"sleep": {"seconds": 1800}}]})


def _now_ms() -> float:
    return time.time() * 1000


def _running_task(gw: httpx.Client, project_id: str) -> str:
    """A deterministic_proof Work Run whose attempt is running (asleep) for the whole bench."""
    r = gw.post(
        f"/api/projects/{project_id}/dev-tasks",
        json={"instructions": SLEEPING_PLAN, "backend": "deterministic_proof"},
    )
    r.raise_for_status()
    task_id: str = r.json()["task_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = gw.get(f"/api/projects/{project_id}/dev-tasks/{task_id}").json()
        if status["state"] == "running" and status.get("attempts"):
            return task_id
        time.sleep(0.1)
    raise RuntimeError(f"task {task_id} never started")


def _raw_sse(gw: httpx.Client, path: str, seen: dict[int, float], stop: threading.Event) -> None:
    """Peer: the gateway's SSE read directly; receive time per checkpoint sequence number."""
    with gw.stream("GET", path, headers={"Accept": "text/event-stream"}, timeout=None) as r:
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["event_type"] == "CheckpointRecorded":
                    seen.setdefault(event["payload"]["checkpoint_sequence_no"], _now_ms())


def _node(mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["node", "e2e/bench.mjs"],
        cwd=WEB,
        env={**os.environ, **env, "BENCH_MODE": mode, "NEXT_TELEMETRY_DISABLED": "1"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _live(
    dash: DashboardServer,
    gw: GatewayServer,
    sandbox: SandboxServer,
    project_id: str,
    task_id: str,
    count: int,
) -> list[list[object]]:
    """Commit `count` checkpoints one by one into an open Work Run page; latency rows."""
    path = f"/api/projects/{project_id}/dev-tasks/{task_id}"
    env = {
        "DASHBOARD_URL": dash.url,
        "HIVE_ADMIN_PASSWORD": gw.admin_password,
        "TASK_URL": f"{dash.url}/projects/{project_id}/work-runs/{task_id}",
    }
    browser = _node("live", env)
    assert browser.stdout is not None and browser.stdin is not None
    if browser.stdout.readline().strip() != "READY":
        raise RuntimeError("browser did not open the Work Run")
    raw: dict[int, float] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_raw_sse, args=(gw.login(), path + "/events", raw, stop))
    reader.start()
    time.sleep(2.0)  # let the raw reader catch up with the history before measuring
    committed: dict[int, float] = {}
    internal = sandbox.client()
    for i in range(count):
        r = internal.post(
            f"/dev-tasks/{task_id}/checkpoints",
            json={"checkpoint_payload": {"bench": i}, "durable": True},
        )
        r.raise_for_status()
        committed[int(r.json()["checkpoint_sequence_no"])] = _now_ms()
        time.sleep(0.05)  # one checkpoint at a time: each latency is its own
    time.sleep(2.0)
    browser.stdin.write("done\n")
    browser.stdin.close()
    seen = {int(k): float(v) for k, v in json.loads(browser.stdout.readline()).items()}
    browser.wait(60)
    stop.set()
    reader.join(10)
    rows: list[list[object]] = []
    for name, arrivals in (("dashboard (browser DOM)", seen), ("raw SSE from gateway", raw)):
        lat = [arrivals[s] - committed[s] for s in committed if s in arrivals]
        rows.append(
            [
                name,
                f"{len(lat)}/{len(committed)}",
                f"{percentile(lat, 50):.1f}",
                f"{percentile(lat, 95):.1f}",
            ]
        )
    return rows


def _render(
    dash: DashboardServer, gw: GatewayServer, sandbox: SandboxServer, project_id: str
) -> None:
    admin = gw.login()
    task_id = _running_task(admin, project_id)
    internal = sandbox.client()
    started = time.monotonic()
    while (
        len(
            admin.get(
                f"/api/projects/{project_id}/dev-tasks/{task_id}/events", params={"limit": 10000}
            ).json()
        )
        < BIG_TIMELINE
    ):
        for i in range(500):
            internal.post(
                f"/dev-tasks/{task_id}/checkpoints",
                json={"checkpoint_payload": {"bench": i, "note": "x" * 40}, "durable": i % 7 == 0},
            ).raise_for_status()
    print(f"  seeded a {BIG_TIMELINE}+ event timeline in {time.monotonic() - started:.1f} s")
    events_path = f"/api/projects/{project_id}/dev-tasks/{task_id}/events"
    n = len(admin.get(events_path, params={"limit": 10000}).json())
    env = {
        "DASHBOARD_URL": dash.url,
        "HIVE_ADMIN_PASSWORD": gw.admin_password,
        "TASK_URL": f"{dash.url}/projects/{project_id}/work-runs/{task_id}",
        "EXPECT": str(n),  # no commands here, so one mark per event
    }
    renders, fetches = [], []
    for _ in range(3):
        proc = _node("render", env)
        out, _err = proc.communicate(timeout=300)
        renders.append(json.loads(out.strip().splitlines()[-1])["first_render_ms"])
        t0 = time.perf_counter()
        admin.get(events_path, params={"limit": 10000}).raise_for_status()
        fetches.append((time.perf_counter() - t0) * 1000)
    r, f = sorted(renders)[1], sorted(fetches)[1]
    print(
        table(
            ["what", "ms", "ratio"],
            [
                [f"first render, {n} events (page load to all marks)", f"{r:.0f}", f"{r / f:.1f}x"],
                [f"peer: GET {n} events as JSON from the gateway", f"{f:.0f}", "1.0x"],
            ],
        )
    )
    print(f"\ncommit -> visible on that {n}-event timeline, {LIVE_ON_BIG} checkpoints (ms)")
    rows = _live(dash, gw, sandbox, project_id, task_id, LIVE_ON_BIG)
    print(table(["path", "seen", "p50", "p95"], rows))
    admin.post(f"/api/projects/{project_id}/dev-tasks/{task_id}/cancel", json={})


async def _run() -> None:
    async with bench_database() as url:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            sandbox = SandboxServer.start(
                url,
                root=tmp / "sandbox",
                env={
                    "HIVE_SANDBOX_WORKER": "true",
                    "HIVE_SANDBOX_CODING_BACKEND": "deterministic_proof",
                },
            )
            gw = GatewayServer.start(url, tmp=tmp / "gateway", sandbox_url=sandbox.url)
            dash = DashboardServer.start(gateway_url=gw.url, tmp=tmp / "dashboard")
            try:
                (tmp / "ws").mkdir()
                project: dict[str, Any] = (
                    gw.login()
                    .post(
                        "/api/projects", json={"name": "bench", "workspace_path": str(tmp / "ws")}
                    )
                    .json()
                )
                pid = project["project_id"]
                admin = gw.login()
                task_id = _running_task(admin, pid)
                print(f"commit -> visible, {CHECKPOINTS} checkpoints committed one at a time (ms)")
                rows = _live(dash, gw, sandbox, pid, task_id, CHECKPOINTS)
                print(table(["path", "seen", "p50", "p95"], rows))
                admin.post(f"/api/projects/{pid}/dev-tasks/{task_id}/cancel", json={})
                print(f"\nfirst render of a {BIG_TIMELINE}-event timeline (median of 3, ms)")
                _render(dash, gw, sandbox, pid)
            finally:
                dash.stop()
                gw.stop()
                sandbox.stop()


def main() -> None:
    """Run the dashboard benchmark and print its figures."""
    asyncio.run(_run())


if __name__ == "__main__":
    main()
