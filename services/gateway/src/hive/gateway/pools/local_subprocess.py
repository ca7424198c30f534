"""The local_subprocess pool: one `hive serve agent` process per agent on loopback.

Each runtime gets a free loopback port, its own workspace directory, and an
environment *built* by the one scrubber (`hive.contracts.child_environment`):
nothing of the gateway's environment but PATH/LANG, plus the agent's config,
the gateway URL and its agent token — never the internal secret, the database
URL or a vendor key. The gateway presents that same token on /run.

A supervisor task per agent starts the process, waits for `/healthz` to say
`runtime_ready`, calls `on_ready` (the service resumes runs left `running`),
and restarts the process when it dies, with exponential backoff. Stop is
SIGTERM to the process group, SIGKILL after a grace period. Every process is
recorded in `<root>/.pool/<name>.json` (pid, kernel start time, controller id),
so a gateway starting after a crash finds the runtimes an earlier gateway of
the same controller id left behind and stops them before starting its own; a
record of another controller is left alone, and a pid reused by an unrelated
process is recognised by its start time and not signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from hive.contracts.agents import (
    FlushMemoryRequest,
    FlushMemoryResult,
    ResumeRunRequest,
    RunRequest,
    RunResult,
)
from hive.contracts.child_environment import child_env
from hive.contracts.confinement import KILL_TREE_SIGNAL, Confinement
from hive.gateway.agents.registry import AgentRecord, workspace_name
from hive.gateway.errors import Unavailable
from hive.gateway.pools.base import HttpAgentRuntime

log = logging.getLogger("hive.gateway.pools")

READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
MAX_BACKOFF_S = 30.0
# What the runtime is given besides the scrubber's base: these pass the scrubber only
# because they are named here (the token is the agent's own, short-lived credential).
AGENT_ENV = (
    "HIVE_WORKSPACE",
    "HIVE_AGENT_CONFIG_JSON",
    "HIVE_GATEWAY_URL",
    "HIVE_AGENT_TOKEN",
    "HIVE_CONTROLLER_ID",
    "HIVE_DEPLOYMENT_BACKEND",
)

TokenIssuer = Callable[[str], str]
OnReady = Callable[[str], Awaitable[None]]


def free_loopback_port() -> int:
    """A port nothing listens on right now (the runtime binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/<pid>/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def agent_argv(port: int) -> list[str]:
    """`hive serve agent` on loopback at `port` (the installed CLI next to this Python)."""
    hive = Path(sys.executable).with_name("hive")
    if hive.exists():
        return [str(hive), "serve", "agent", "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "hive.cli.main", "serve", "agent", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip


class ProcessRecord(msgspec.Struct, kw_only=True):
    """What the pool remembers on disk about a runtime process."""

    agent_id: str
    controller_id: str
    pid: int
    start_ticks: int
    port: int


@dataclass
class _Supervised:
    agent: AgentRecord
    workspace: Path
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    handle: HttpAgentRuntime | None = None
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    stopping: bool = False
    restarts: int = 0
    confined: bool = False


class SupervisedRuntime:
    """The handle of a supervised agent: waits (briefly) for a restarting runtime."""

    def __init__(self, sup: _Supervised, wait_s: float) -> None:
        self._sup = sup
        self._wait_s = wait_s

    async def _handle(self) -> HttpAgentRuntime:
        try:
            await asyncio.wait_for(self._sup.ready.wait(), self._wait_s)
        except TimeoutError:
            raise Unavailable("the agent runtime is (re)starting; retry shortly") from None
        assert self._sup.handle is not None
        return self._sup.handle

    @property
    def pid(self) -> int | None:
        """The runtime process id (tests and operators look at it)."""
        proc = self._sup.proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def run(self, body: RunRequest) -> RunResult:
        """POST /run."""
        return await (await self._handle()).run(body)

    async def resume(self, body: ResumeRunRequest) -> RunResult:
        """POST /resume-run."""
        return await (await self._handle()).resume(body)

    async def flush_memory(self, body: FlushMemoryRequest) -> FlushMemoryResult:
        """POST /flush-memory."""
        return await (await self._handle()).flush_memory(body)

    async def health(self) -> dict[str, Any] | None:
        """/healthz, or None while down."""
        handle = self._sup.handle
        if handle is None or not self._sup.ready.is_set():
            return None
        doc = await handle.health()
        if doc is not None:
            doc["pid"] = self.pid
            doc["restarts"] = self._sup.restarts
            doc["confined"] = self._sup.confined
        return doc


class LocalSubprocessPool:
    """One runtime process per agent, supervised."""

    name = "local_subprocess"

    def __init__(
        self,
        root: Path,
        *,
        controller_id: str,
        gateway_url: str,
        issue_token: TokenIssuer,
        on_ready: OnReady,
        handle_wait_s: float = 30.0,
        confinement: Confinement | None = None,
    ) -> None:
        self.root = root
        self.records = root / ".pool"
        self.controller_id = controller_id
        self.gateway_url = gateway_url
        self.issue_token = issue_token
        self.on_ready = on_ready
        self.handle_wait_s = handle_wait_s
        self.confinement = confinement
        self._agents: dict[str, _Supervised] = {}
        self._client = httpx.AsyncClient()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, agents: list[AgentRecord]) -> None:
        """Stop our orphans, then start every agent."""
        self.records.mkdir(parents=True, exist_ok=True, mode=0o700)
        stopped = await self.stop_orphans()
        if stopped:
            log.warning("stopped %d agent runtime(s) left by an earlier gateway", stopped)
        for agent in agents:
            await self.ensure(agent)

    async def stop_orphans(self) -> int:
        """SIGTERM (then SIGKILL) every recorded runtime of this controller still alive."""
        count = 0
        for path in sorted(self.records.glob("*.json")):
            try:
                record = msgspec.json.decode(path.read_bytes(), type=ProcessRecord)
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            if record.controller_id != self.controller_id:
                continue  # another gateway's runtime: not ours to stop
            if start_ticks(record.pid) == record.start_ticks:
                await _terminate_group(record.pid, None)
                count += 1
            path.unlink(missing_ok=True)
        return count

    async def ensure(self, agent: AgentRecord) -> None:
        """Start supervising this agent (idempotent)."""
        if agent.agent_id in self._agents:
            return
        workspace = self.root / workspace_name(agent.agent_id)
        workspace.mkdir(parents=True, exist_ok=True, mode=0o700)
        sup = _Supervised(agent=agent, workspace=workspace)
        self._agents[agent.agent_id] = sup
        sup.task = asyncio.create_task(self._supervise(sup), name=f"agent-{agent.agent_id}")

    async def remove(self, agent_id: str) -> None:
        """Stop the runtime and stop supervising it."""
        sup = self._agents.pop(agent_id, None)
        if sup is None:
            return
        sup.stopping = True
        if sup.proc is not None and sup.proc.returncode is None:
            await _terminate_group(sup.proc.pid, sup.proc)
        if sup.task is not None:
            sup.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sup.task

    def runtime(self, agent_id: str) -> SupervisedRuntime | None:
        """The handle of a supervised agent."""
        sup = self._agents.get(agent_id)
        return None if sup is None else SupervisedRuntime(sup, self.handle_wait_s)

    async def close(self) -> None:
        """Stop every runtime."""
        await asyncio.gather(*(self.remove(a) for a in list(self._agents)))
        await self._client.aclose()

    # -- supervision -----------------------------------------------------------------------

    def _env(self, sup: _Supervised, token: str) -> dict[str, str]:
        values = {
            "HIVE_WORKSPACE": str(sup.workspace),
            "HIVE_AGENT_CONFIG_JSON": msgspec.json.encode(sup.agent.config).decode(),
            "HIVE_GATEWAY_URL": self.gateway_url,
            "HIVE_AGENT_TOKEN": token,
            "HIVE_CONTROLLER_ID": self.controller_id,
            "HIVE_DEPLOYMENT_BACKEND": self.name,
        }
        tmp = sup.workspace / ".tmp"
        tmp.mkdir(exist_ok=True, mode=0o700)
        return child_env(home=sup.workspace, tmpdir=tmp, allow=values, permit_secrets=AGENT_ENV)

    async def _spawn(self, sup: _Supervised) -> asyncio.subprocess.Process:
        token = self.issue_token(sup.agent.agent_id)
        port = free_loopback_port()
        name = workspace_name(sup.agent.agent_id)
        log_path = self.records / f"{name}.log"
        argv, launch = agent_argv(port), None
        pass_fds: tuple[int, ...] = ()
        if self.confinement is not None and self.confinement.active:
            # Like a governed child: writes only its workspace, connects only to the gateway
            # (relay and internal API), binds only its own port, dies with the gateway.
            launch = self.confinement.launch(
                argv, writable=[sup.workspace], relay_url=self.gateway_url, listen_port=port
            )
            argv, pass_fds = launch.argv, launch.pass_fds
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=self._env(sup, token),
                cwd=sup.workspace,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                pass_fds=pass_fds,
                start_new_session=True,  # its own process group: SIGTERM reaches granian's workers
            )
        except BaseException:
            if launch is not None:
                launch.abandon()
            raise
        finally:
            os.close(fd)
        if launch is not None:
            await asyncio.to_thread(launch.started)  # LaunchFailed (an OSError): retried
        sup.confined = launch is not None
        record = ProcessRecord(
            agent_id=sup.agent.agent_id,
            controller_id=self.controller_id,
            pid=proc.pid,
            start_ticks=start_ticks(proc.pid) or 0,
            port=port,
        )
        (self.records / f"{name}.json").write_bytes(msgspec.json.encode(record))
        sup.handle = HttpAgentRuntime(f"http://127.0.0.1:{port}", token, self._client)
        return proc

    async def _wait_ready(self, sup: _Supervised, proc: asyncio.subprocess.Process) -> bool:
        assert sup.handle is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline and proc.returncode is None:
            doc = await sup.handle.health()
            if doc is not None and doc.get("runtime_ready"):
                return True
            if doc is not None and doc.get("readiness_reason"):
                log.error("agent %s not ready: %s", sup.agent.agent_id, doc["readiness_reason"])
            await asyncio.sleep(0.1)
        return False

    async def _supervise(self, sup: _Supervised) -> None:
        delay = 0.5
        agent_id = sup.agent.agent_id
        while not sup.stopping:
            try:
                proc = sup.proc = await self._spawn(sup)
            except OSError as exc:
                log.error("agent %s: cannot start its runtime: %s", agent_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
                continue
            if await self._wait_ready(sup, proc):
                sup.ready.set()
                delay = 0.5
                try:
                    await self.on_ready(agent_id)
                except Exception:  # resuming is best effort; the operator may resume by hand
                    log.exception("agent %s: resuming its runs failed", agent_id)
            else:
                log.error("agent %s: runtime not ready in %.0fs", agent_id, READY_TIMEOUT_S)
                await _terminate_group(proc.pid, proc)
            code = await proc.wait()
            sup.ready.clear()
            (self.records / f"{workspace_name(agent_id)}.json").unlink(missing_ok=True)
            if sup.stopping:
                break
            sup.restarts += 1
            log.warning(
                "agent %s: runtime exited (%s); restart %d in %.1fs",
                agent_id,
                code,
                sup.restarts,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)


async def _terminate_group(pid: int, proc: asyncio.subprocess.Process | None) -> None:
    """SIGTERM the process group, then (after the grace period) the launcher's tree kill
    and SIGKILL. A confined runtime's launcher forwards SIGTERM to its tree; SIGKILL alone
    would leave granian's worker behind, KILL_TREE_SIGNAL takes every descendant."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_GRACE_S
    while loop.time() < deadline:
        if proc is not None:
            if proc.returncode is not None:
                return
        elif _is_zombie(pid):
            return
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        if _is_launcher(pid):
            os.kill(pid, KILL_TREE_SIGNAL)
            await asyncio.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
    if proc is not None:
        await proc.wait()


def _is_launcher(pid: int) -> bool:
    try:
        return b"hive-confine" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    """Gone or a zombie: either way no longer running (reads /proc, never blocks)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].startswith("Z")
