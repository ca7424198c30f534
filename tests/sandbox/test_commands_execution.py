"""Governed commands run for real: exit, output, env scrubbing, limits, timeout, cancel, records."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hive.contracts.events import DevTaskCreated
from hive.events import EventStore
from hive.sandbox.workruns.state import WorkRunState
from tests.support.sandbox_server import CANARY_ENV, SandboxServer

PY = "python3"


def run(client: httpx.Client, argv: list[str], **body: Any) -> dict[str, Any]:
    """POST /commands and long-poll until it is final."""
    r = client.post("/commands", json={"argv": argv, **body})
    assert r.status_code == 201, r.text
    return wait_final(client, r.json()["command_id"])


def wait_final(client: httpx.Client, command_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """Long-poll a command until it leaves `running` (or fail after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(f"/commands/{command_id}/poll", params={"timeout_s": 10}).json()
        if status["state"] != "running":
            return status
    raise AssertionError(f"command {command_id} still running after {timeout_s}s")


def pid_gone(pid: int) -> bool:
    """Gone, or a zombie waiting for an init that does not reap (dead either way)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (OSError, StopIteration):
        return True
    return "Z" in state.split()[1]


def wait_gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid_gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_exit_code_and_both_streams(sandbox: httpx.Client) -> None:
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    status = run(sandbox, [PY, "-c", code])
    assert status["state"] == "exited"
    assert status["exit_code"] == 3
    assert status["stdout"]["preview"] == "to stdout\n"
    assert status["stderr"]["preview"] == "to stderr\n"
    assert status["stdout"]["size_bytes"] == len("to stdout\n")
    assert status["stdout"]["truncated"] is False
    assert status["duration_s"] is not None and status["finished_at"] is not None
    assert status["retrieval"]["stdout"] == f"/commands/{status['command_id']}/log?stream=stdout"


def test_canary_secrets_in_the_sandbox_env_never_reach_a_child(
    sandbox_server: SandboxServer, sandbox: httpx.Client
) -> None:
    dump = "import json, os; print(json.dumps(dict(os.environ)))"
    status = run(sandbox, [PY, "-c", dump], task_id=f"t-{uuid.uuid4().hex[:8]}")
    env = json.loads(status["stdout"]["preview"])
    raw = sandbox.get(f"/commands/{status['command_id']}/log").content.decode()
    forbidden = {
        **CANARY_ENV,
        "HIVE_INTERNAL_SECRET": sandbox_server.secret,
        "DATABASE_URL": sandbox_server.database_url,
    }
    for name, value in forbidden.items():
        assert name not in env
        assert value not in raw
    assert set(env) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "TERM", "NO_COLOR",
        "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK",
        "PIP_CONFIG_FILE", "UV_NO_CONFIG", "PWD", "LC_CTYPE",
    }  # fmt: skip
    scratch = str(sandbox_server.root / "tasks" / status["task_id"] / "scratch")
    assert env["HOME"].startswith(scratch) and env["TMPDIR"].startswith(scratch)


def test_own_session_stdin_devnull_and_rlimits(sandbox: httpx.Client) -> None:
    code = (
        "import os, resource, sys, json; print(json.dumps({"
        "'session_leader': os.getsid(0) == os.getpid(), 'group_leader': os.getpgid(0) == os.getpid(),"
        "'stdin': sys.stdin.read(), 'core': resource.getrlimit(resource.RLIMIT_CORE),"
        "'nofile': resource.getrlimit(resource.RLIMIT_NOFILE)}))"
    )
    facts = json.loads(run(sandbox, [PY, "-c", code])["stdout"]["preview"])
    assert facts == {
        "session_leader": True,
        "group_leader": True,
        "stdin": "",
        "core": [0, 0],
        "nofile": [4096, 4096],
    }


def test_timeout_kills_the_whole_group_grandchild_included(sandbox: httpx.Client) -> None:
    # The child ignores SIGTERM, so only the KILL after the grace period ends it.
    code = (
        "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); time.sleep(300)"
    )
    r = sandbox.post("/commands", json={"argv": [PY, "-c", code], "timeout_s": 1})
    command_id = r.json()["command_id"]
    status = wait_final(sandbox, command_id, timeout_s=30)
    assert status["state"] == "timed_out"
    assert "timeout_s=1" in status["reason"]
    grandchild = int(status["stdout"]["preview"].split()[0])
    assert wait_gone(grandchild)


def test_cancel_terms_the_group_and_reports_cancelled(sandbox: httpx.Client) -> None:
    code = (
        "import subprocess, time; p = subprocess.Popen(['sleep', '300']);"
        "print(p.pid, flush=True); time.sleep(300)"
    )
    r = sandbox.post("/commands", json={"argv": [PY, "-c", code]})
    command_id = r.json()["command_id"]
    deadline = time.monotonic() + 20
    while not sandbox.get(f"/commands/{command_id}").json()["stdout"]["preview"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(sandbox.get(f"/commands/{command_id}").json()["stdout"]["preview"])
    cancelled = sandbox.post(f"/commands/{command_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["exit_code"] == -15
    assert wait_gone(grandchild)
    # Cancelling a finished command changes nothing.
    again = sandbox.post(f"/commands/{command_id}/cancel").json()
    assert again["state"] == "cancelled"


def test_a_background_grandchild_does_not_outlive_its_command(sandbox: httpx.Client) -> None:
    code = "import subprocess; p = subprocess.Popen(['sleep', '300']); print(p.pid)"
    status = run(sandbox, [PY, "-c", code])
    assert status["state"] == "exited" and status["exit_code"] == 0
    assert wait_gone(int(status["stdout"]["preview"]))


def test_a_setsid_escapee_holding_the_output_pipe_is_killed(sandbox: httpx.Client) -> None:
    code = (
        "import subprocess; p = subprocess.Popen(['sleep', '300'], start_new_session=True);"
        "print(p.pid)"
    )
    status = run(sandbox, [PY, "-c", code])
    assert status["state"] == "exited"
    assert wait_gone(int(status["stdout"]["preview"]))


def test_an_executable_that_cannot_start_is_failed_to_start(
    sandbox_server: SandboxServer, sandbox: httpx.Client
) -> None:
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    repo = sandbox_server.root / "tasks" / task_id / "repo"
    repo.mkdir(parents=True)
    broken = repo / "pytest"
    broken.write_bytes(b"\x7fELF-but-not-really")
    broken.chmod(0o755)
    r = sandbox.post("/commands", json={"argv": ["./pytest"], "task_id": task_id})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "failed_to_start"
    assert "Exec format error" in r.json()["reason"]


def test_more_than_a_pipe_of_output_at_once_on_both_streams_is_kept_exactly(
    sandbox: httpx.Client,
) -> None:
    # Pipes join the event loop only after a short delay (a quick command's are read
    # after its exit): a command that fills both at once must still run to the end.
    code = (
        "import os; chunk = b'x' * (3 << 20); os.write(1, chunk); os.write(2, chunk);"
        "os.write(1, b'end')"
    )
    status = run(sandbox, [PY, "-c", code], timeout_s=60)
    assert status["state"] == "exited" and status["exit_code"] == 0
    assert status["stdout"]["size_bytes"] == (3 << 20) + 3
    assert status["stderr"]["size_bytes"] == 3 << 20
    tail = sandbox.get(
        f"/commands/{status['command_id']}/log",
        params={"stream": "stdout", "offset": 3 << 20, "limit": 16},
    )
    assert tail.content == b"end"


def test_preview_keeps_head_and_tail(sandbox: httpx.Client) -> None:
    code = "for i in range(20000): print(f'line {i:05d}')"
    status = run(sandbox, [PY, "-c", code])
    out = status["stdout"]
    size = 20000 * len("line 00000\n")
    assert out["size_bytes"] == size
    assert out["preview"].startswith("line 00000\nline 00001\n")
    assert out["preview"].endswith("line 19998\nline 19999\n")
    assert len(out["preview"].encode()) < 4096 + 200
    assert out["truncated"] is True
    assert out["omitted_bytes"] == size - 4096
    assert out["log_omitted_bytes"] == 0


def test_ranged_log_reads(sandbox: httpx.Client) -> None:
    code = "import sys; sys.stdout.write(''.join(chr(65 + i % 26) for i in range(100000)))"
    status = run(sandbox, [PY, "-c", code])
    expected = "".join(chr(65 + i % 26) for i in range(100000)).encode()
    url = f"/commands/{status['command_id']}/log"
    got, offset = b"", 0
    while True:
        r = sandbox.get(url, params={"stream": "stdout", "offset": offset, "limit": 30000})
        assert r.status_code == 200
        assert int(r.headers["X-Log-Size"]) == len(expected)
        assert int(r.headers["X-Next-Offset"]) == offset + len(r.content)
        if not r.content:
            break
        got += r.content
        offset = int(r.headers["X-Next-Offset"])
    assert got == expected
    tail = sandbox.get(url, params={"offset": 99990})
    assert tail.content == expected[99990:]
    assert sandbox.get(url, params={"stream": "stderr"}).content == b""
    assert sandbox.get(url, params={"stream": "stdin"}).status_code == 422
    assert sandbox.get(url, params={"offset": -1}).status_code == 422
    missing = sandbox.get(f"/commands/{uuid.uuid4().hex}/log")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_long_poll_returns_on_timeout_then_on_exit(sandbox: httpx.Client) -> None:
    r = sandbox.post("/commands", json={"argv": ["sleep", "1.5"]})
    command_id = r.json()["command_id"]
    early = sandbox.get(f"/commands/{command_id}/poll", params={"timeout_s": 0.2}).json()
    assert early["state"] == "running"
    final = sandbox.get(f"/commands/{command_id}/poll", params={"timeout_s": 30}).json()
    assert final["state"] == "exited" and final["exit_code"] == 0


def test_list_filters_by_state_and_task(sandbox: httpx.Client) -> None:
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    done = run(sandbox, ["true"], task_id=task_id)
    failing = run(sandbox, ["false"], task_id=task_id)
    running = sandbox.post("/commands", json={"argv": ["sleep", "30"], "task_id": task_id}).json()
    try:
        mine = sandbox.get("/commands", params={"task_id": task_id}).json()
        assert [c["command_id"] for c in mine] == [
            running["command_id"],
            failing["command_id"],
            done["command_id"],
        ]
        live = sandbox.get("/commands", params={"task_id": task_id, "state": "running"}).json()
        assert [c["command_id"] for c in live] == [running["command_id"]]
        assert sandbox.get("/commands", params={"state": "bogus"}).status_code == 422
    finally:
        sandbox.post(f"/commands/{running['command_id']}/cancel")


async def test_commands_are_recorded_on_the_work_run_stream_when_it_exists(
    sandbox_server: SandboxServer, store: EventStore
) -> None:
    task_id = f"t-{uuid.uuid4().hex[:8]}"
    await store.append(
        f"workrun-{task_id}",
        [
            DevTaskCreated(
                task_id=task_id,
                project_id="p",
                instructions="x",
                backend="deterministic_proof",
                created_at=datetime.now(UTC),
            )
        ],
        0,
    )
    async with sandbox_server.async_client() as client:
        r = await client.post("/commands", json={"argv": ["true"], "task_id": task_id})
        command_id = r.json()["command_id"]
        await client.get(f"/commands/{command_id}/poll", params={"timeout_s": 30})
        orphan_task = await client.post(
            "/commands", json={"argv": ["true"], "task_id": f"none-{uuid.uuid4().hex[:8]}"}
        )
        other_id = orphan_task.json()["command_id"]
        await client.get(f"/commands/{other_id}/poll", params={"timeout_s": 30})
    events = await store.read_stream(f"workrun-{task_id}")
    assert [e.event_type for e in events] == ["DevTaskCreated", "CommandStarted", "CommandFinished"]
    started, finished = events[1].decode(), events[2].decode()
    assert started.command_id == finished.command_id == command_id  # type: ignore[union-attr]
    assert finished.state == "exited"  # type: ignore[union-attr]
    state = WorkRunState()
    for e in events:
        state.apply(e.decode(), e.stream_version, e.recorded_at)
    assert state.state == "queued" and state.running_commands == []
    # A task without a Work Run stream must not get one started by a command.
    assert await store.stream_version(f"workrun-{orphan_task.json()['task_id']}") == 0
    own = await store.read_stream(f"command-{other_id}")
    assert [e.event_type for e in own] == ["CommandStarted", "CommandFinished"]


def test_the_log_cap_keeps_the_head_and_counts_the_rest(
    start_sandbox: Any,
) -> None:
    server: SandboxServer = start_sandbox(env={"HIVE_SANDBOX_LOG_CAP_BYTES": "1000"})
    with server.client() as client:
        status = run(client, [PY, "-c", "import sys; sys.stdout.write('x' * 5000)"])
        out = status["stdout"]
        assert out["size_bytes"] == 5000
        assert out["log_omitted_bytes"] == 4000
        log = client.get(f"/commands/{status['command_id']}/log", params={"limit": 100000})
        assert log.content.startswith(b"x" * 1000 + b"\n[hive: log cap of 1000 bytes reached")
        assert log.content.endswith(b"[hive: 4000 bytes omitted past the log cap]\n")


@pytest.mark.parametrize("limit", [0, 7])
def test_log_limit_bounds_the_range(sandbox: httpx.Client, limit: int) -> None:
    status = run(sandbox, ["echo", "hello world"])
    r = sandbox.get(f"/commands/{status['command_id']}/log", params={"limit": limit})
    assert r.content == b"hello world\n"[:limit]
    assert int(r.headers["X-Next-Offset"]) == limit


def test_status_of_an_unknown_command_is_404(sandbox: httpx.Client) -> None:
    for path in ("", "/poll", "/cancel"):
        method = "POST" if path == "/cancel" else "GET"
        r = sandbox.request(method, f"/commands/{uuid.uuid4().hex}{path}")
        assert r.status_code == 404


def test_sandbox_process_has_no_zombie_children(
    sandbox_server: SandboxServer, sandbox: httpx.Client
) -> None:
    for _ in range(5):
        run(sandbox, ["true"])
    worker = sandbox_server.worker_pid()
    zombies = []
    with open(f"/proc/{worker}/task/{worker}/children") as fh:
        for pid in fh.read().split():
            if pid_gone(int(pid)) and os.path.exists(f"/proc/{pid}"):
                zombies.append(pid)
    assert zombies == []
