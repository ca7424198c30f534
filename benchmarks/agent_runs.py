"""Agent runs: the overhead of a HiveAgent run through the pool and the relay, and resume cost.

Run: `uv run python -m benchmarks agent_runs`.

Everything is real and on loopback — PostgreSQL (a throwaway database), the
sandbox (deterministic_proof Work Runs), the gateway with each pool (`local`:
the agent in the gateway process; `local_subprocess`: a `hive serve agent`
process) — except the model, the scripted OpenAI-compatible server from
tests/support (the project's one double), answering instantly:

- **run**: `POST /api/agents/{id}/run` until `completed`, for a run of three
  model round trips: the model asks for `create_dev_task` (the one side-effecting
  tool call: a Work Run is created in the sandbox), then for `remember`, then
  answers. Every step is recorded in the run's stream (through the gateway's
  internal API for the process pool) before the next one starts.
- **direct (peer)**: the same three chat-completion requests (the bodies the
  agent sent, replayed) posted straight to the scripted model: the floor.
- **resume, 1,000 steps**: a run whose stream holds 1,000 recorded model calls
  with their tool calls and results (about 3,000 events, appended through the
  internal API), stopped; `POST .../resume` until `completed` (read and fold
  the stream, one model call with the rebuilt transcript, finish) — beside
  the same resume of a run with one recorded step.

Medians over BENCH_RUNS (default 15) runs; ratios are against the peer
measured in the same run. Not a test: nothing here asserts on time.

Closing note (2-core shared machine, 2026-12-07, BENCH_RUNS=15, other engineers' builds
and tests running beside it):

| pool             | run median ms | run p90 ms | direct median ms | ratio | overhead ms |
|------------------|---------------|------------|------------------|-------|-------------|
| local            | 303.3         | 382.1      | 20.1             | 15.1x | 283.2       |
| local_subprocess | 514.0         | 677.6      | 20.7             | 24.9x | 493.4       |

| resume until completed | 1,000 steps ms | 1 step ms | ratio |
|------------------------|----------------|-----------|-------|
| local                  | 649.7          | 37.6      | 17.3x |
| local_subprocess       | 1948.6         | 181.6     | 10.7x |

Again after budgets moved to the relay (each agent model call is admitted by folding the
run's events appended since its previous call; issue 13's second pass), 2026-12-07,
BENCH_RUNS=15, a quieter machine:

| pool             | run median ms | run p90 ms | direct median ms | ratio | overhead ms |
|------------------|---------------|------------|------------------|-------|-------------|
| local            | 216.4         | 243.8      | 12.2             | 17.7x | 204.2       |
| local_subprocess | 217.9         | 457.4      | 11.8             | 18.5x | 206.1       |

| resume until completed | 1,000 steps ms | 1 step ms | ratio |
|------------------------|----------------|-----------|-------|
| local                  | 485.8          | 33.7      | 14.4x |
| local_subprocess       | 1163.7         | 65.3      | 17.8x |

The two sets are from different machine loads: compare ratios within a set, not across.
The resume of 1,000 steps now reads the stream twice (the runtime's fold, then the relay's
on the first call of the resumed segment in a gateway that has not seen the run).

The run's overhead is dominated by what the peer does not do: a Work Run created in the
sandbox (workspace seeding, its first events), about a dozen stream appends in their own
transactions, and, for the process pool, every append and model call crossing HTTP twice
(runtime -> gateway -> database/model). Resume of 1,000 steps (about 3,000 events) costs
reading them (through the internal API for the process pool: one JSON document), folding,
and one model call whose transcript holds 2,000 messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import bench_database, median, percentile, table
from tests.support.gateway_server import GatewayServer
from tests.support.sandbox_server import SandboxServer
from tests.support.scripted_model import (
    FunctionCall,
    Message,
    ReceivedRequest,
    ScriptedModelServer,
    Turn,
)
from tests.support.service_process import free_port

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
MODEL = "bench-agent-model"
PLAN = '{"steps": [{"write": {"path": "B.md", "content": "b\\n"}}]}'
POOLS = {
    "local": {"HIVE_POOL_BACKEND": "local"},
    "local_subprocess": {
        "HIVE_POOL_BACKEND": "container",
        "HIVE_CONTAINER_RUNTIME_BACKEND": "local_subprocess",
    },
}


def _respond(request: ReceivedRequest) -> Turn:
    """Stateless script: tool call, tool call, answer (by how many tool results it sees)."""
    tools = sum(1 for m in request.body.get("messages", []) if m.get("role") == "tool")
    if tools == 0:
        return FunctionCall(
            "create_dev_task", {"instructions": PLAN, "backend": "deterministic_proof"}
        )
    if tools == 1:
        return FunctionCall("remember", {"note": "benchmark note"})
    return Message("done")


def _gateway(db: str, sandbox: SandboxServer, model: ScriptedModelServer, tmp: Path, pool: str):  # type: ignore[no-untyped-def]
    port = free_port()
    providers = [{"id": "s", "base_url": model.base_url, "api_key_env": "K", "models": [MODEL]}]
    return GatewayServer.start(
        db,
        tmp=tmp,
        sandbox_url=sandbox.url,
        port=port,
        env={
            **POOLS[pool],
            "HIVE_MODEL_PROVIDERS": json.dumps(providers),
            "K": "sk-bench",
            "HIVE_AGENT_GATEWAY_URL": f"http://127.0.0.1:{port}",
            "HIVE_RELAY_RATE_LIMIT_PER_MINUTE": "100000",
            "HIVE_ACCESS_LOG": "false",
            "HIVE_LOG_LEVEL": "WARNING",
        },
    )


def _agent(operator: httpx.Client, project_id: str) -> str:
    agent_id: str = operator.post(
        "/api/agents",
        json={
            "project_id": project_id,
            "role": "keeper",
            "model": MODEL,
            "budget": {"model_calls": 1_000_000, "tokens": 1_000_000_000, "wall_s": 86_400},
        },
    ).json()["agent_id"]
    deadline = time.monotonic() + 60
    while not (operator.get(f"/api/agents/{agent_id}").json().get("health") or {}).get(
        "runtime_ready"
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("agent runtime not ready")
        time.sleep(0.05)
    return agent_id


def _run_once(operator: httpx.Client, agent_id: str) -> float:
    started = time.perf_counter()
    doc = operator.post(f"/api/agents/{agent_id}/run", json={"input": "bench"}).json()
    elapsed = time.perf_counter() - started
    if doc.get("status") != "completed" or doc.get("model_calls") != 3:
        raise RuntimeError(f"run did not complete: {doc}")
    return elapsed


def _direct(model: ScriptedModelServer, bodies: list[dict[str, Any]]) -> float:
    with httpx.Client(base_url=model.base_url, timeout=30) as http:
        started = time.perf_counter()
        for body in bodies:
            http.post(
                "/chat/completions", json=body, headers={"Authorization": "Bearer sk"}
            ).raise_for_status()
        return time.perf_counter() - started


def _recorded_run(gw: GatewayServer, agent_id: str, steps: int) -> str:
    """A stopped run whose stream holds `steps` recorded model calls + tool calls + results."""
    token = gw.task_token(agent_id=agent_id, scopes=["agent:runtime"])["token"]
    run_id = f"bench-resume-{steps}-{time.time_ns()}"
    now = datetime.now(UTC).isoformat()
    events: list[dict[str, Any]] = [
        {
            "type": "AgentRunStarted",
            "run_id": run_id,
            "agent_id": agent_id,
            "project_id": "p",
            "input": "resume bench",
            "model": MODEL,
            "budget": {"model_calls": 1e9, "tokens": 1e12, "wall_s": 1e9},
            "started_at": now,
        }
    ]
    for step in range(1, steps + 1):
        call = f"call-{step}"
        events += [
            {
                "type": "AgentModelCalled",
                "step": step,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call,
                            "type": "function",
                            "function": {"name": "list_dev_tasks", "arguments": "{}"},
                        }
                    ],
                },
                "input_tokens": 10,
                "output_tokens": 5,
                "recorded_at": now,
            },
            {
                "type": "AgentToolRequested",
                "step": step,
                "call_id": call,
                "tool": "list_dev_tasks",
                "arguments": {},
                "idempotency_key": f"{run_id}:{step}:0",
                "recorded_at": now,
            },
            {
                "type": "AgentToolFinished",
                "call_id": call,
                "ok": True,
                "result": {"items": []},
                "recorded_at": now,
            },
        ]
    with gw.client(headers={"Authorization": f"Bearer {token}"}) as http:
        version = 0
        for i in range(0, len(events), 600):
            batch = events[i : i + 600]
            r = http.post(
                f"/internal/agent-runs/{run_id}/events",
                json={"expected_version": version, "events": batch},
            )
            r.raise_for_status()
            version = r.json()["stream_version"]
    return run_id


def _resume(operator: httpx.Client, agent_id: str, run_id: str) -> float:
    started = time.perf_counter()
    doc = operator.post(f"/api/agents/{agent_id}/runs/{run_id}/resume", json={"run_id": run_id})
    elapsed = time.perf_counter() - started
    if doc.json().get("status") != "completed":
        raise RuntimeError(f"resume did not complete: {doc.text[:500]}")
    return elapsed


async def _main() -> None:
    async with bench_database() as db:
        with tempfile.TemporaryDirectory(prefix="hive-bench-agents-") as tmp_dir:
            tmp = Path(tmp_dir)
            model = ScriptedModelServer(responder=_respond, models=(MODEL,)).start()
            sandbox = SandboxServer.start(
                db,
                root=tmp / "sandbox",
                env={
                    "HIVE_SANDBOX_WORKER": "true",
                    "HIVE_SANDBOX_CODING_BACKEND": "deterministic_proof",
                },
            )
            rows: list[list[object]] = []
            resume_rows: list[list[object]] = []
            try:
                for pool in POOLS:
                    gw = _gateway(db, sandbox, model, tmp / pool, pool)
                    try:
                        operator = gw.login()
                        operator.timeout = httpx.Timeout(120)
                        ws = tmp / f"ws-{pool}"
                        ws.mkdir()
                        project = operator.post(
                            "/api/projects", json={"name": pool, "workspace_path": str(ws)}
                        ).json()
                        agent_id = _agent(operator, project["project_id"])
                        model.requests.clear()
                        _run_once(operator, agent_id)  # warm-up; its bodies feed the peer
                        bodies = [r.body for r in model.model_requests()[-3:]]
                        runs, direct = [], []
                        for _ in range(RUNS):  # interleaved, so both see the same machine
                            runs.append(_run_once(operator, agent_id))
                            direct.append(_direct(model, bodies))
                        rows.append(
                            [
                                pool,
                                f"{median(runs) * 1000:.1f}",
                                f"{percentile(runs, 90) * 1000:.1f}",
                                f"{median(direct) * 1000:.1f}",
                                f"{median(runs) / median(direct):.1f}x",
                                f"{(median(runs) - median(direct)) * 1000:.1f}",
                            ]
                        )
                        long_run = _recorded_run(gw, agent_id, 1000)
                        short_run = _recorded_run(gw, agent_id, 1)
                        long_s = _resume(operator, agent_id, long_run)
                        short_s = _resume(operator, agent_id, short_run)
                        resume_rows.append(
                            [
                                pool,
                                f"{long_s * 1000:.1f}",
                                f"{short_s * 1000:.1f}",
                                f"{long_s / short_s:.1f}x",
                            ]
                        )
                    finally:
                        gw.stop()
            finally:
                sandbox.stop()
                model.stop()
    print(f"\nAgent run, 3 model round trips + create_dev_task + remember ({RUNS} runs):")
    print(
        table(
            [
                "pool",
                "run median ms",
                "run p90 ms",
                "direct median ms",
                "ratio",
                "overhead ms",
            ],
            rows,
        )
    )
    print("\nResume until completed:")
    print(table(["pool", "1,000 steps ms", "1 step ms", "ratio"], resume_rows))


def main() -> None:
    """Run the suite and print the tables."""
    asyncio.run(_main())


if __name__ == "__main__":
    main()
