"""The `codex_cli` coding backend: the real Codex CLI as a governed subprocess.

Per attempt: a fresh HOME / CODEX_HOME / TMPDIR under the task's scratch dir,
a config.toml with the provider and everything that calls out turned off, the
env scrubber's minimal environment plus what the auth mode allows (in relay
mode one task token from the gateway, scoped `relay:model`, bound to the task,
expiring with the attempt). Codex's `--json` stream is folded live into
checkpoints and command records; the last message becomes an artifact.
Cancel and the attempt timeout stop Codex and every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hive.contracts.relay_client import IssuedTokenSource, RelayError
from hive.contracts.tokens import SCOPE_RELAY
from hive.sandbox.backends.base import (
    AttemptContext,
    AttemptResult,
    BackendUnavailable,
    CommandEndState,
)
from hive.sandbox.codex import install as codex_install
from hive.sandbox.codex import invocation
from hive.sandbox.codex.events import (
    CheckpointDue,
    CodexEventMapper,
    CommandBegan,
    CommandEnded,
)
from hive.sandbox.codex.invocation import AttemptPaths, CodexConfigError, Provider
from hive.sandbox.codex.process import CodexProcess
from hive.sandbox.codex.settings import CodexSettings, SandboxMode
from hive.sandbox.confinement import Confinement
from hive.sandbox.confinement import Launch as ConfinedLaunch
from hive.sandbox.settings import SandboxSettings

log = logging.getLogger("hive.sandbox.codex")

HEARTBEAT_EVERY_S: Final = 5.0
TOKEN_TTL_MARGIN_S: Final = 60


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    """How Codex reaches its model in one attempt."""

    provider: Provider | None
    token: str | None = None
    """Put in Codex's env (relay mode) under the provider's env_key."""
    secrets: tuple[str, ...] = ()
    """Values to keep out of reasons and records."""
    cleanup: Callable[[], Awaitable[None]] | None = None
    """Stops whatever was started for this access (the relay helper)."""


@dataclass(frozen=True, slots=True)
class Launch:
    """What one attempt runs."""

    argv: list[str]
    env: dict[str, str]
    paths: AttemptPaths
    access: ProviderAccess


class CodexCliBackend:
    """Runs `codex exec` for each attempt."""

    name = "codex_cli"
    execution_class = "governed_subprocess"

    def __init__(self, settings: SandboxSettings, confinement: Confinement | None = None) -> None:
        self.settings = settings
        self.codex: CodexSettings = settings.codex
        self.confinement = confinement
        """Puts Codex and all it spawns behind hive-confine (None: unconfined, unit tests)."""

    @property
    def sandbox_mode(self) -> SandboxMode:
        """Codex's own `--sandbox` mode.

        Inside OpenHive's confinement Codex's bubblewrap sandbox cannot start: the
        kernel refuses mounts to a process in a Landlock domain (measured here), so
        every command Codex ran would fail. Ours is then the boundary, as the pod is
        in Kubernetes, and Codex runs with `danger-full-access` inside it.
        """
        if self.confinement is not None and self.confinement.active:
            return "danger-full-access"
        return self.codex.sandbox_mode

    @property
    def timeout_s(self) -> float:
        """The attempt timeout."""
        return self.codex.timeout_s or self.settings.default_timeout_s

    # -- what to run -------------------------------------------------------------------------

    async def access(self, ctx: AttemptContext, paths: AttemptPaths) -> ProviderAccess:
        """The provider from settings; in relay mode the gateway relay plus a task token."""
        provider = invocation.provider_for(self.codex, self.settings.gateway_url)
        if self.codex.auth_mode != "relay":
            return ProviderAccess(provider)
        token = await self.task_token(ctx)
        return ProviderAccess(provider, token=token, secrets=(token,))

    async def task_token(self, ctx: AttemptContext) -> str:
        """A relay token from the gateway, bound to this task, valid for the whole attempt."""
        if not self.settings.gateway_url:
            raise CodexConfigError("a task token needs HIVE_GATEWAY_URL")
        source = IssuedTokenSource(
            self.settings.gateway_url,
            self.settings.internal_secret,
            task_id=ctx.task_id,
            scopes=(SCOPE_RELAY,),
            ttl_s=int(self.timeout_s) + TOKEN_TTL_MARGIN_S,
            renew_margin_s=0,
        )
        return await source()

    async def prepare(self, ctx: AttemptContext, binary: str) -> Launch:
        """Write config.toml and build argv and env (CodexConfigError / RelayError on failure)."""
        paths = AttemptPaths.for_attempt(ctx.scratch_dir, ctx.attempt_no, ctx.repo_dir)
        paths.create()
        access = await self.access(ctx, paths)
        try:
            paths.config_toml.write_text(invocation.config_toml(self.codex.model, access.provider))
            paths.config_toml.chmod(0o600)
            prompt = invocation.prompt(ctx.instructions, ctx.resume_checkpoint)
            argv = invocation.argv(binary, self.sandbox_mode, ctx.repo_dir, paths, prompt)
            env = invocation.environment(self.codex, paths, token=access.token)
        except BaseException:
            if access.cleanup is not None:
                await access.cleanup()
            raise
        return Launch(argv, env, paths, access)

    # -- the attempt -------------------------------------------------------------------------

    async def run(self, ctx: AttemptContext) -> AttemptResult:
        """One attempt: prepare, spawn, fold the event stream, decide the outcome."""
        found = await asyncio.to_thread(codex_install.probe, self.codex.bin)
        if not found.present:
            raise BackendUnavailable(found.describe())
        try:
            launch = await self.prepare(ctx, found.path)
        except CodexConfigError as exc:
            return AttemptResult("failed", reason=f"{self.name} backend misconfigured: {exc}")
        except RelayError as exc:
            detail = f": {exc.detail}" if exc.detail else ""
            return AttemptResult(
                "failed", reason=f"no task token from the gateway: {exc.status} {exc.code}{detail}"
            )
        try:
            return await self._supervise(ctx, launch)
        finally:
            if launch.access.cleanup is not None:
                await launch.access.cleanup()

    def _confined(self, ctx: AttemptContext, launch: Launch) -> ConfinedLaunch | None:
        """Codex behind hive-confine: it writes its repo and scratch, reaches its provider."""
        if self.confinement is None:
            return None
        provider = launch.access.provider
        return self.confinement.launch(
            launch.argv,
            writable=[ctx.repo_dir, ctx.scratch_dir],
            relay_url=provider.base_url if provider is not None else None,
        )

    async def _supervise(self, ctx: AttemptContext, launch: Launch) -> AttemptResult:
        stderr_log = ctx.log_dir / f"codex-attempt-{ctx.attempt_no}.stderr.log"
        started = time.monotonic()
        try:
            proc = await CodexProcess.spawn(
                launch.argv,
                env=launch.env,
                cwd=ctx.repo_dir,
                stderr_log=stderr_log,
                launch=self._confined(ctx, launch),
            )
        except OSError as exc:
            return AttemptResult("failed", reason=f"codex could not start: {exc.strerror or exc}")
        try:
            return await self._follow(ctx, launch, proc, started)
        finally:
            # Whatever happened (an exception, the worker cancelling this task), nothing
            # Codex started outlives the attempt; a no-op when all of it already exited.
            await proc.stop(None, self.settings.kill_grace_s)

    async def _follow(
        self, ctx: AttemptContext, launch: Launch, proc: CodexProcess, started: float
    ) -> AttemptResult:
        """Record Codex, fold its events until it exits (or is stopped), report the outcome."""
        n = ctx.attempt_no
        paths = launch.paths
        secrets = launch.access.secrets
        stderr_log = ctx.log_dir / f"codex-attempt-{n}.stderr.log"
        events_log = ctx.log_dir / f"codex-attempt-{n}.events.jsonl"
        record_argv = [*launch.argv[:-1], f"<prompt: {len(launch.argv[-1].encode())} bytes>"]
        codex_cmd = await ctx.command_started(record_argv, cwd=ctx.repo_dir, pid=proc.pid)
        previous = _codex_progress(ctx.resume_checkpoint)
        mapper = CodexEventMapper(attempt_no=n, repo_dir=ctx.repo_dir, previous=previous)
        open_commands: dict[str, str] = {}
        stdout_bytes = 0

        async def pump() -> int:
            nonlocal stdout_bytes
            last_beat = time.monotonic()
            raw = os.open(events_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                while line := await proc.stdout.readline():
                    stdout_bytes += len(line)
                    os.write(raw, line)
                    for effect in mapper.feed(line):
                        if isinstance(effect, CommandBegan):
                            proc.track()
                            open_commands[effect.item_id] = await ctx.command_started(
                                effect.argv, cwd=ctx.repo_dir, pid=None
                            )
                        elif isinstance(effect, CommandEnded):
                            cmd_id = open_commands.pop(effect.item_id, None)
                            if cmd_id is not None:
                                await ctx.command_finished(
                                    cmd_id,
                                    state="exited"
                                    if effect.exit_code is not None
                                    else "failed_to_start",
                                    exit_code=effect.exit_code,
                                    stdout_bytes=effect.output_bytes,
                                )
                        elif isinstance(effect, CheckpointDue):
                            await ctx.checkpoint(effect.payload, durable=True)
                    if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
                        last_beat = time.monotonic()
                        await ctx.heartbeat()
            finally:
                os.close(raw)
            return await proc.wait()

        work = asyncio.create_task(pump())
        cancel = asyncio.create_task(ctx.cancelled.wait())
        try:
            done, _ = await asyncio.wait(
                {work, cancel}, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if work not in done:
                why = "cancelled" if cancel in done else "timed_out"
                await proc.stop(why, self.settings.kill_grace_s)
            returncode = await work
        except BaseException:
            # A refused callback or the worker cancelling us: stop Codex now and leave a
            # final record of it (CommandFinished is accepted in any task state).
            await proc.stop(None, self.settings.kill_grace_s)
            with contextlib.suppress(Exception):
                await ctx.command_finished(
                    codex_cmd,
                    state="cancelled" if proc.stopped_by == "cancelled" else "lost",
                    exit_code=proc.proc.returncode,
                    reason="the attempt ended while codex ran",
                )
            raise
        finally:
            cancel.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
        # Orphans of a Codex that exited on its own (its commands run in their own sessions).
        await proc.stop(None, self.settings.kill_grace_s)

        end_state: CommandEndState = (
            "cancelled"
            if proc.stopped_by == "cancelled"
            else "timed_out"
            if proc.stopped_by == "timed_out"
            else "exited"
        )
        for cmd_id in open_commands.values():
            await ctx.command_finished(
                cmd_id, state="lost" if end_state == "exited" else end_state, exit_code=None
            )
        await ctx.command_finished(
            codex_cmd,
            state=end_state,
            exit_code=returncode,
            stdout_bytes=stdout_bytes,
            stderr_bytes=stderr_log.stat().st_size if stderr_log.exists() else 0,
            duration_s=round(time.monotonic() - started, 3),
        )
        last_file = paths.last_message.read_text() if paths.last_message.exists() else None
        result = mapper.finish(returncode, last_file)
        # A cancelled task takes no more artifacts; its last message stays in the logs.
        if result.last_message and proc.stopped_by != "cancelled":
            await ctx.artifact(
                f"codex-last-message-attempt-{n}.md",
                result.last_message.encode(),
                content_type="text/markdown; charset=utf-8",
            )
        if proc.stopped_by == "cancelled":
            return AttemptResult("cancelled", reason="cancelled while codex was running")
        if proc.stopped_by == "timed_out":
            return AttemptResult(
                "timed_out",
                reason=f"codex ran longer than the attempt timeout ({self.timeout_s:g} s)",
            )
        reason = _redact(result.reason, secrets)
        if result.outcome == "failed":
            tail = (
                _stderr_tail(stderr_log, secrets)
                if returncode != 0 and not mapper.turn_failed
                else None
            )
            return AttemptResult("failed", reason=f"{reason}; stderr: {tail}" if tail else reason)
        return AttemptResult("succeeded", summary=result.last_message)


def _codex_progress(checkpoint: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The progress block of a Codex checkpoint (another backend's checkpoint has none)."""
    if not checkpoint:
        return None
    progress = checkpoint.get("progress")
    return progress if isinstance(progress, Mapping) else None


def _redact(text: str | None, secrets: tuple[str, ...]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _stderr_tail(path: Path, secrets: tuple[str, ...], limit: int = 300) -> str | None:
    """The last meaningful stderr line (config errors are reported only there)."""
    try:
        lines = [
            ln.strip()
            for ln in path.read_text(errors="replace").splitlines()
            if ln.strip() and ln.strip() != "Reading additional input from stdin..."
        ]
    except OSError:
        return None
    return _redact(lines[-1][:limit], secrets) if lines else None


def create(settings: SandboxSettings, confinement: Confinement | None = None) -> CodexCliBackend:
    """The backend registry's entry point."""
    return CodexCliBackend(settings, confinement)
