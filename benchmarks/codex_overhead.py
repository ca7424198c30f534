"""Platform overhead of a Codex Work Run: relay-backed Work Run vs `codex exec` run directly.

`uv run python benchmarks/codex_overhead.py` (or `python -m benchmarks codex_overhead`).

Both sides run the real pinned Codex CLI on the same two-round-trip script
(round trip 1: the model calls `apply_patch`; round trip 2: it answers),
answered by the scripted Responses-API server on 127.0.0.1 (the test double
that stands in for the vendor), in the same run, interleaved:

- direct: `codex exec` spawned here against the scripted server, in a fresh
  git repo, with the sandbox's own argv/env/config builders; timed from spawn
  to exit.
- platform: a real gateway and a real sandbox (granian processes, PostgreSQL),
  HIVE_SANDBOX_CODEX_AUTH_MODE=relay; timed from `POST /dev-tasks` (seeding a
  requested path) to the task reaching `awaiting_review` (task token, relay,
  event stream, checkpoints, artifact, patch).

The ratio platform / direct is the platform's overhead; the timeline of the
platform run comes from the task's own event timestamps (same host clock).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_database, median, table
from hive.sandbox.codex import install, invocation
from hive.sandbox.codex.settings import CodexSettings
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer
from tests.support.scripted_model import CustomToolCall, Message, ScriptedModelServer

RUNS = 7
MODEL = "gpt-5.5"  # a bundled slug, so Codex offers apply_patch
VENDOR_KEY = "sk-bench-vendor-key"
PATCH = "*** Begin Patch\n*** Update File: greeting.txt\n@@\n-hello\n+hello, bench\n*** End Patch\n"
GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def _script(model: ScriptedModelServer) -> None:
    model.script(CustomToolCall("apply_patch", PATCH), Message("Updated the greeting."))


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "greeting.txt").write_text("hello\n")
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "seed"],
    ):
        subprocess.run(argv, cwd=path, check=True, env=GIT_ENV)
    return path


def direct_run(model: ScriptedModelServer, work: Path, binary: str) -> float:
    """One `codex exec` straight at the scripted server; seconds from spawn to exit."""
    repo = _repo(work / "repo")
    settings = CodexSettings(model=MODEL, provider_id="scripted", provider_base_url=model.base_url)
    paths = invocation.AttemptPaths.for_attempt(work / "scratch", 1, repo)
    paths.create()
    paths.config_toml.write_text(
        invocation.config_toml(MODEL, invocation.provider_for(settings, None))
    )
    argv = invocation.argv(binary, "workspace-write", repo, paths, "Update the greeting.")
    env = invocation.environment(settings, paths)
    _script(model)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "hello, bench" not in (repo / "greeting.txt").read_text():
        raise RuntimeError(f"direct codex run failed: {done.stderr.decode()[-500:]}")
    return elapsed


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def platform_run(
    sandbox: SandboxServer, model: ScriptedModelServer, work: Path
) -> tuple[float, dict[str, float]]:
    """One relay-backed Work Run; seconds from POST to awaiting_review, and a breakdown."""
    repo = _repo(work / "project")
    _script(model)
    with sandbox.client() as http:
        wall_start = time.time()
        started = time.perf_counter()
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "bench",
                "instructions": "Update the greeting.",
                "workspace": {"requested_path": str(repo)},
            },
        )
        r.raise_for_status()
        task_id = r.json()["task_id"]
        while True:
            st = http.get(f"/dev-tasks/{task_id}").json()
            if st["state"] != "queued" and st["state"] != "running":
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        wall_end = time.time()
        if st["state"] != "awaiting_review":
            raise RuntimeError(f"platform run ended {st['state']}: {st.get('reason')}")
        evs = http.get(f"/dev-tasks/{task_id}/events").json()
    codex = next(
        e
        for e in evs
        if e["event_type"] == "CommandStarted" and e["payload"]["argv"][1:2] == ["exec"]
    )
    codex_end = next(
        e
        for e in evs
        if e["event_type"] == "CommandFinished"
        and e["payload"]["command_id"] == codex["payload"]["command_id"]
    )
    first: dict[str, float] = {}
    for e in evs:
        first.setdefault(e["event_type"], _ts(e["recorded_at"]))
    marks = [
        ("DevTaskCreated", first["DevTaskCreated"]),
        ("WorkspaceSeeded", first["WorkspaceSeeded"]),
        ("AttemptStarted", first["AttemptStarted"]),
        ("codex spawned (CommandStarted)", _ts(codex["recorded_at"])),
        ("first CheckpointRecorded", first["CheckpointRecorded"]),
        ("codex exited (CommandFinished)", _ts(codex_end["recorded_at"])),
        ("PatchProposed", first["PatchProposed"]),
        ("awaiting_review seen by the client", wall_end),
    ]
    breakdown = {name: t - wall_start for name, t in marks}
    return elapsed, breakdown


async def run() -> None:
    """Start the stack once, then alternate direct and platform runs."""
    found = install.probe(None)
    if not found.present:
        print(f"skipped: {found.describe()}")
        return
    async with bench_database() as db:
        with ScriptedModelServer(models=[MODEL]) as model, tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            providers = [
                {
                    "id": "scripted",
                    "base_url": model.base_url,
                    "api_key_env": "BENCH_VENDOR_KEY",
                    "models": [MODEL],
                }
            ]
            gateway = GatewayServer.start(
                db,
                tmp=root / "gateway",
                env={"HIVE_MODEL_PROVIDERS": json.dumps(providers), "BENCH_VENDOR_KEY": VENDOR_KEY},
            )
            try:
                sandbox = SandboxServer.start(
                    db,
                    root=root / "sandbox",
                    env={
                        "HIVE_SANDBOX_WORKER": "true",
                        "HIVE_SANDBOX_CODING_BACKEND": "codex_cli",
                        "HIVE_SANDBOX_CODEX_AUTH_MODE": "relay",
                        "HIVE_SANDBOX_CODEX_MODEL": MODEL,
                        "HIVE_GATEWAY_URL": gateway.url,
                        "HIVE_SANDBOX_WORKER_POLL_S": "0.2",
                    },
                )
                try:
                    direct: list[float] = []
                    platform: list[float] = []
                    parts: dict[str, list[float]] = {}
                    # One warm-up of each (page cache, first token, first connections), not counted.
                    direct_run(model, root / "warm-direct", found.path)
                    platform_run(sandbox, model, root / "warm-platform")
                    for i in range(RUNS):
                        direct.append(direct_run(model, root / f"direct-{i}", found.path))
                        elapsed, breakdown = platform_run(sandbox, model, root / f"platform-{i}")
                        platform.append(elapsed)
                        for k, v in breakdown.items():
                            parts.setdefault(k, []).append(v)
                finally:
                    sandbox.stop()
            finally:
                gateway.stop()
    d, p = median(direct), median(platform)
    print(f"codex-cli {found.version}; {RUNS} runs each, interleaved; medians")
    print(
        table(
            ["run", "median ms", "min ms", "max ms"],
            [
                [
                    "codex exec direct -> scripted server",
                    f"{d * 1000:.0f}",
                    f"{min(direct) * 1000:.0f}",
                    f"{max(direct) * 1000:.0f}",
                ],
                [
                    "Work Run via gateway relay (POST -> awaiting_review)",
                    f"{p * 1000:.0f}",
                    f"{min(platform) * 1000:.0f}",
                    f"{max(platform) * 1000:.0f}",
                ],
            ],
        )
    )
    print()
    print(
        table(
            ["platform run timeline (from POST), median", "ms"],
            [[k, f"{median(v) * 1000:.0f}"] for k, v in parts.items()],
        )
    )
    print(
        f"\nplatform overhead: {(p - d) * 1000:.0f} ms per run; ratio platform/direct = {p / d:.2f}x"
    )


def main() -> None:
    """Entry point for `python -m benchmarks codex_overhead`."""
    asyncio.run(run())


if __name__ == "__main__":
    main()
