"""Governed command round trip (issue 3) vs SWE-ReX 1.4's remote runtime, in one run.

Ours: POST /commands {"argv": ["true"]} to the real sandbox (granian, PostgreSQL
persistence, policy, env scrubbing, own process group, logs on disk), then
long-poll GET /commands/{id}/poll until it has exited. A command that ends
within the sandbox's settle window (HIVE_SANDBOX_COMMAND_SETTLE_S, 50 ms)
comes back final from the POST itself, so `true` needs no poll; the table
says how many round trips did poll. Its CommandStarted/CommandFinished are
journaled before the answer and appended to PostgreSQL right behind it.
Peer: SWE-ReX 1.4.0's `swerex-remote` server (FastAPI + uvicorn) on loopback,
POST /execute {"command": ["true"], "shell": false}, which answers when the
process has exited. SWE-ReX is installed by this script into its own
throwaway venv (benchmarks/.peers/swerex, gitignored); it is never a project
dependency.

The sandbox runs twice side by side: confined (every command behind hive-confine with
its Landlock domains, the default) and unconfined, so the cost of the boundary is a
ratio of the same run.

Figures: per-round-trip p50 / p99 (sequential, one client), and commands/s
sequential and with 8 clients in flight. Rounds alternate between the two
servers so machine noise hits both alike. Target: our p50 <= SWE-ReX's.

    uv run python benchmarks/sandbox_commands.py       # or: uv run python -m benchmarks sandbox_commands
    BENCH_SANDBOX_N=2000 BENCH_SANDBOX_CONCURRENCY=8 ... # knobs
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

if __package__ in (None, ""):  # standalone: `python benchmarks/sandbox_commands.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import REPO, bench_database, percentile, table
from hive.cli.serve import granian_argv

N = int(os.environ.get("BENCH_SANDBOX_N", "1000"))
WARMUP = int(os.environ.get("BENCH_SANDBOX_WARMUP", "100"))
ROUNDS = int(os.environ.get("BENCH_SANDBOX_ROUNDS", "10"))
CONCURRENCY = int(os.environ.get("BENCH_SANDBOX_CONCURRENCY", "8"))
PEER_VENV = REPO / "benchmarks" / ".peers" / "swerex"
PEER_VERSION = "1.4.0"

RoundTrip = Callable[[httpx.AsyncClient], Awaitable[None]]
CONFINED = "OpenHive sandbox, confined (POST /commands + poll)"
UNCONFINED = "OpenHive sandbox, unconfined (HIVE_SANDBOX_CONFINEMENT=false)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not up in {timeout_s}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_sandbox(
    database_url: str, root: Path, secret: str, *, confined: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    """The real sandbox under granian, as `hive serve sandbox` runs it (confinement
    required, or turned off for the unconfined comparison)."""
    port = _free_port()
    root.mkdir(parents=True, exist_ok=True)
    env = {
        "HIVE_SANDBOX_REQUIRE_CONFINEMENT": "true" if confined else "false",
        "HIVE_SANDBOX_CONFINEMENT": "true" if confined else "false",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "DATABASE_URL": database_url,
        "HIVE_INTERNAL_SECRET": secret,
        "HIVE_SANDBOX_ROOT": str(root / "sandbox"),
        "HIVE_SANDBOX_WORKER": "false",
    }
    log = root / "sandbox.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            granian_argv("sandbox", "127.0.0.1", port),
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/healthz", proc, log)
    return proc, url


def ensure_peer() -> Path | str:
    """swerex-remote from a throwaway venv (created on first use)."""
    exe = PEER_VENV / "bin" / "swerex-remote"
    if exe.exists():
        return exe
    uv = shutil.which("uv") or "uv"
    made = subprocess.run(
        [uv, "venv", "-q", "-p", "3.11", str(PEER_VENV)], capture_output=True, text=True
    )
    inst = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(PEER_VENV / "bin" / "python"),
         f"swe-rex=={PEER_VERSION}"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if made.returncode or inst.returncode or not exe.exists():
        return f"SWE-ReX unavailable: {(made.stderr + inst.stderr).strip()[-400:]}"
    return exe


def start_peer(exe: Path, root: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """SWE-ReX's remote runtime server on loopback."""
    port = _free_port()
    log = root / "swerex.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            # `=`: a token_urlsafe secret may start with "-", which argparse would take
            # for an option (about one run in 64 failed to start the peer).
            [str(exe), "--host", "127.0.0.1", "--port", str(port), f"--auth-token={token}"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)},
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/", proc, log)
    return proc, url


POLLED = [0]


async def ours(client: httpx.AsyncClient) -> None:
    """POST /commands ["true"], then long-poll until it exited."""
    r = await client.post("/commands", json={"argv": ["true"]})
    status = r.json()
    if r.status_code != 201:
        raise RuntimeError(f"sandbox refused: {r.text}")
    if status["state"] == "running":
        POLLED[0] += 1
    while status["state"] == "running":
        status = (
            await client.get(f"/commands/{status['command_id']}/poll", params={"timeout_s": 30})
        ).json()
    if status["state"] != "exited" or status["exit_code"] != 0:
        raise RuntimeError(f"unexpected end: {status}")


async def peer(client: httpx.AsyncClient) -> None:
    """SWE-ReX: POST /execute ["true"] without a shell (answers after exit)."""
    r = await client.post("/execute", json={"command": ["true"], "shell": False})
    if r.status_code != 200 or r.json()["exit_code"] != 0:
        raise RuntimeError(f"SWE-ReX: {r.status_code} {r.text[:300]}")


async def sequential(client: httpx.AsyncClient, fn: RoundTrip, n: int) -> list[float]:
    """Per-round-trip latencies (seconds) of n sequential round trips."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn(client)
        out.append(time.perf_counter() - t0)
    return out


async def concurrent(client: httpx.AsyncClient, fn: RoundTrip, n: int, width: int) -> float:
    """Commands/s with `width` round trips in flight."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await fn(client)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return n / (time.perf_counter() - t0)


async def run() -> None:
    """Start both servers, measure, print the table."""
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="hive-bench-sandbox-") as tmp:
        root = Path(tmp)
        peer_exe = ensure_peer()
        async with bench_database() as db:
            sandbox_proc, sandbox_url = start_sandbox(db, root / "confined", secret)
            open_proc, open_url = start_sandbox(db, root / "unconfined", secret, confined=False)
            peer_proc = None
            try:
                limits = httpx.Limits(max_connections=CONCURRENCY * 2)

                def ours_client(url: str) -> httpx.AsyncClient:
                    return httpx.AsyncClient(
                        base_url=url,
                        headers={"X-Internal-Secret": secret},
                        timeout=60,
                        limits=limits,
                    )

                clients: dict[str, tuple[httpx.AsyncClient, RoundTrip]] = {
                    CONFINED: (ours_client(sandbox_url), ours),
                    UNCONFINED: (ours_client(open_url), ours),
                }
                if isinstance(peer_exe, Path):
                    peer_proc, peer_url = start_peer(peer_exe, root, secret)
                    clients[f"SWE-ReX {PEER_VERSION} (POST /execute)"] = (
                        httpx.AsyncClient(
                            base_url=peer_url,
                            headers={"X-API-Key": secret},
                            timeout=60,
                            limits=limits,
                        ),
                        peer,
                    )
                else:
                    print(peer_exe)
                latencies: dict[str, list[float]] = {name: [] for name in clients}
                for client, fn in clients.values():
                    await sequential(client, fn, WARMUP)
                per_round = max(1, N // ROUNDS)
                for _ in range(ROUNDS):  # alternate so drift and noise hit both
                    for name, (client, fn) in clients.items():
                        latencies[name] += await sequential(client, fn, per_round)
                rates: dict[str, float] = {}
                for name, (client, fn) in clients.items():
                    rates[name] = await concurrent(client, fn, N, CONCURRENCY)
                rows = []
                for name, lat in latencies.items():
                    rows.append(
                        [
                            name,
                            len(lat),
                            f"{percentile(lat, 50) * 1000:.2f}",
                            f"{percentile(lat, 95) * 1000:.2f}",
                            f"{percentile(lat, 99) * 1000:.2f}",
                            f"{len(lat) / sum(lat):.0f}",
                            f"{rates[name]:.0f}",
                        ]
                    )
                print(
                    table(
                        ["server", "n", "p50 ms", "p95 ms", "p99 ms", "cmd/s (1 client)",
                         f"cmd/s ({CONCURRENCY} in flight)"],
                        rows,
                    )
                )  # fmt: skip
                print(f"round trips of ours that needed a poll: {POLLED[0]}")
                p50 = {n: percentile(lat, 50) for n, lat in latencies.items()}
                print(f"p50 ratio confined/unconfined = {p50[CONFINED] / p50[UNCONFINED]:.2f}")
                peers = [n for n in p50 if n not in (CONFINED, UNCONFINED)]
                if peers:
                    a, b = p50[CONFINED], p50[peers[0]]
                    verdict = "met" if a <= b else "NOT met"
                    print(f"p50 ratio confined/SWE-ReX = {a / b:.2f} (target <= 1.00: {verdict})")
                    print(f"p50 ratio unconfined/SWE-ReX = {p50[UNCONFINED] / b:.2f}")
                for client, _ in clients.values():
                    await client.aclose()
            finally:
                _stop(sandbox_proc)
                _stop(open_proc)
                if peer_proc is not None:
                    _stop(peer_proc)


def main() -> None:
    """Entry point for `python -m benchmarks sandbox_commands`."""
    asyncio.run(run())


if __name__ == "__main__":
    main()
