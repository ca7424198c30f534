"""Gateway throughput: the dev-task status route and the model relay, against a bare granian app.

Run: `uv run python -m benchmarks gateway_throughput` (or `python -m benchmarks.gateway_throughput`).

Every server is a real granian process with one worker on 127.0.0.1, started
here on a throwaway database:

- `hello`: a bare ASGI app answering `GET /` with 5 bytes (the floor: what
  granian itself costs per request on this machine);
- `sandbox direct`: the sandbox's `GET /dev-tasks/{task_id}` with the internal
  secret (what the facade adds is the difference to the next line);
- `gateway status`: `GET /api/projects/{id}/dev-tasks/{task_id}` with an
  operator session cookie, proxied to the sandbox (session lookup in
  PostgreSQL, ownership check, one sandbox call);
- `gateway relay`: `POST /relay/v1/chat/completions` (non-streaming) with a
  task token (signature, revocation lookup, rate limit) forwarded to a
  scripted upstream, itself a bare granian app returning a canned completion.

The load generator is a separate process: C keep-alive connections sending
pre-built HTTP/1.1 requests back to back for a fixed time. Targets are
measured in interleaved rounds and the median round is reported, with each
figure as a ratio to `hello` measured in the same run. On a shared 2-core
machine the generator, the servers and PostgreSQL compete for the same CPUs,
so absolute numbers are modest and the ratios are the figures to compare.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import bench_database, median, percentile, table

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))

# -- the two bare apps (served by granian from this module) ---------------------------------

_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "benchmark answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
).encode()


async def hello_app(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    """The floor: a bare ASGI app answering every request with `hello`."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
    await send({"type": "http.response.body", "body": b"hello"})


async def upstream_app(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    """Scripted OpenAI-compatible upstream (the LLM provider stand-in): a canned completion."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:  # drain the request body
        message = await receive()
        more = message.get("more_body", False)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_COMPLETION)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _COMPLETION})


# -- processes -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One granian server started by the benchmark."""

    def __init__(self, name: str, target: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.log = log_dir / f"{name}.log"
        argv = [
            sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1", "--no-ws", target,
        ]  # fmt: skip
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                argv,
                env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def wait(self, path: str = "/healthz", timeout_s: float = 60) -> None:
        """Until `path` answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM the process group and wait."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- the load generator (runs in its own process: `--load SPEC`) ------------------------------------


async def _connection(
    port: int, request: bytes, deadline: float, latencies: list[float], statuses: Counter[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (start := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError(f"no content-length in answer:\n{head.decode(errors='replace')}")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] += 1
    finally:
        writer.close()


async def _load(port: int, request: bytes, seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    warm_deadline = time.perf_counter() + 0.5
    await asyncio.gather(
        *(_connection(port, request, warm_deadline, [], Counter()) for _ in range(concurrency))
    )
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(port, request, started + seconds, latencies, statuses)
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def run_load(port: int, request: bytes, seconds: float = SECONDS) -> dict[str, Any]:
    """Measure one target from a fresh process; the figures as a dict."""
    spec = json.dumps(
        {"port": port, "request": request.decode("latin-1"), "seconds": seconds, "c": CONCURRENCY}
    )
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.gateway_throughput", "--load", spec],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- the benchmark -----------------------------------------------------------------------------------


async def _bench() -> None:
    secret = secrets.token_urlsafe(32)
    async with bench_database() as db:
        work = Path(tempfile.mkdtemp(prefix="hive-bench-gw-"))
        base = {
            k: os.environ[k] for k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV") if k in os.environ
        }
        servers: list[Server] = []
        try:
            hello = Server("hello", "benchmarks.gateway_throughput:hello_app", base, work)
            upstream = Server("upstream", "benchmarks.gateway_throughput:upstream_app", base, work)
            sandbox = Server(
                "sandbox",
                "hive.sandbox.main:app",
                base
                | {
                    "DATABASE_URL": db,
                    "HIVE_INTERNAL_SECRET": secret,
                    "HIVE_SANDBOX_ROOT": str(work / "sandbox"),
                    "HIVE_SANDBOX_WORKER": "false",
                },
                work,
            )
            servers += [hello, upstream, sandbox]
            hello.wait("/")
            upstream.wait("/")
            sandbox.wait()
            providers = [
                {
                    "id": "bench",
                    "base_url": upstream.url + "/v1",
                    "api_key_env": "BENCH_VENDOR_KEY",
                    "models": ["bench-model"],
                }
            ]
            admin_password = secrets.token_urlsafe(16)
            gateway = Server(
                "gateway",
                "hive.gateway.main:app",
                base
                | {
                    "DATABASE_URL": db,
                    "HIVE_INTERNAL_SECRET": secret,
                    "DASHBOARD_SESSION_SECRET": secrets.token_urlsafe(32),
                    "HIVE_CREDENTIAL_KEY": secrets.token_urlsafe(32),
                    "HIVE_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
                    "HIVE_WORKSPACE": str(work / "workspace"),
                    "HIVE_SANDBOX_URL": sandbox.url,
                    "HIVE_MODEL_PROVIDERS": json.dumps(providers),
                    "BENCH_VENDOR_KEY": "sk-bench-" + secrets.token_hex(16),
                    "HIVE_RELAY_RATE_LIMIT_PER_MINUTE": "100000000",
                    "HIVE_COOKIE_SECURE": "false",
                },
                work,
            )
            servers.append(gateway)
            gateway.wait()

            with httpx.Client(base_url=gateway.url, timeout=30) as http:
                login = http.post(
                    "/api/auth/login", json={"username": "admin", "password": admin_password}
                )
                login.raise_for_status()
                http.headers["X-CSRFToken"] = login.json()["csrf_token"]
                (work / "workspace" / "bench").mkdir(parents=True)
                project = http.post(
                    "/api/projects",
                    json={"name": "bench", "workspace_path": str(work / "workspace" / "bench")},
                ).json()
                task = http.post(
                    f"/api/projects/{project['project_id']}/dev-tasks",
                    json={"instructions": '{"steps": []}', "backend": "deterministic_proof"},
                ).json()
                session = http.cookies["hive_session"]
                token = http.post(
                    "/internal/task-tokens",
                    json={"task_id": task["task_id"], "scopes": ["relay:model"], "ttl_s": 3600},
                    headers={"X-Internal-Secret": secret},
                ).json()["token"]

            completion = json.dumps(
                {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}
            ).encode()
            targets = {
                "hello (bare granian)": (hello.port, _request("GET", "/", {})),
                "sandbox direct GET /dev-tasks/{id}": (
                    sandbox.port,
                    _request("GET", f"/dev-tasks/{task['task_id']}", {"X-Internal-Secret": secret}),
                ),
                "gateway GET .../dev-tasks/{task_id}": (
                    gateway.port,
                    _request(
                        "GET",
                        f"/api/projects/{project['project_id']}/dev-tasks/{task['task_id']}",
                        {"Cookie": f"hive_session={session}"},
                    ),
                ),
                "gateway relay chat/completions": (
                    gateway.port,
                    _request(
                        "POST",
                        "/relay/v1/chat/completions",
                        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                        completion,
                    ),
                ),
            }
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            for n in range(ROUNDS):
                for name, (port, request) in targets.items():
                    result = run_load(port, request)
                    bad = {s: c for s, c in result["statuses"].items() if s != "200"}
                    if bad:
                        raise RuntimeError(f"{name}: non-200 answers {bad}")
                    rounds[name].append(result)
                    print(f"round {n + 1}/{ROUNDS} {name}: {result['rps']:.0f} req/s", flush=True)
        finally:
            for server in reversed(servers):
                server.stop()

    def mid(name: str) -> dict[str, Any]:
        by_rps = sorted(rounds[name], key=lambda r: r["rps"])
        return by_rps[len(by_rps) // 2]

    floor = median([r["rps"] for r in rounds["hello (bare granian)"]])
    rows = []
    for name in targets:
        m = mid(name)
        rows.append(
            [
                name,
                f"{m['rps']:.0f}",
                f"{m['p50_ms']:.2f}",
                f"{m['p95_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                f"{m['rps'] / floor:.3f}",
            ]
        )
    print()
    print(
        f"Gateway throughput: {CONCURRENCY} keep-alive connections, {SECONDS:.0f} s per target, "
        f"median of {ROUNDS} interleaved rounds, 1 granian worker per server, {os.cpu_count()} CPUs"
    )
    print(table(["target", "req/s", "p50 ms", "p95 ms", "p99 ms", "ratio to hello"], rows))


def main() -> None:
    """Entry point of `python -m benchmarks gateway_throughput`."""
    asyncio.run(_bench())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--load":
        spec = json.loads(sys.argv[2])
        figures = asyncio.run(
            _load(spec["port"], spec["request"].encode("latin-1"), spec["seconds"], spec["c"])
        )
        print(json.dumps(figures))
    else:
        main()
