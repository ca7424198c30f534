"""The `relay_helper` coding backend (opt-in): Codex behind a local relay helper process.

For each attempt the sandbox obtains a task token (scope `relay:model`, bound
to the task) and hands it to one helper process only
(`python -m hive.sandbox.relay_helper`), which listens on 127.0.0.1 and
forwards Codex's model calls through the gateway relay with the shared
task-relay client. Codex itself runs with the scrubbed environment and a
provider without any key: it holds no credential at all, and the helper
holds nothing but the short-lived token. Everything else (argv, config,
events, cancel) is the `codex_cli` backend's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Final

import msgspec

from hive.sandbox.backends.base import AttemptContext
from hive.sandbox.backends.codex_cli import CodexCliBackend, ProviderAccess
from hive.sandbox.codex.invocation import AttemptPaths, CodexConfigError, Provider
from hive.sandbox.confinement import Confinement, Launch
from hive.sandbox.environment import child_env
from hive.sandbox.relay_helper import TOKEN_ENV
from hive.sandbox.settings import SandboxSettings

STARTUP_TIMEOUT_S: Final = 15.0


class RelayHelperProcess:
    """One running helper: its loopback URL, and how to stop it."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    async def start(
        cls,
        *,
        relay_url: str,
        token: str,
        home: Path,
        tmpdir: Path,
        log: Path,
        confinement: Confinement | None = None,
    ) -> RelayHelperProcess:
        """Spawn the helper and wait for the URL it announces (CodexConfigError if it does not)."""
        env = child_env(
            home=home, tmpdir=tmpdir, allow={TOKEN_ENV: token}, permit_secrets=[TOKEN_ENV]
        )
        argv = [sys.executable, "-m", "hive.sandbox.relay_helper", "--relay-url", relay_url]
        launch = (
            Launch(argv=argv, executable=argv[0])
            if confinement is None
            else confinement.launch(argv, writable=[home, tmpdir], relay_url=relay_url)
        )
        err = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                pass_fds=launch.pass_fds,
                # An open pipe the helper watches: when the sandbox goes away, so does the helper.
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=str(home),
                start_new_session=True,
            )
        except BaseException:
            launch.abandon()
            raise
        finally:
            os.close(err)
        try:
            launch.started()
        except OSError as exc:
            await proc.wait()
            raise CodexConfigError(f"the relay helper could not start: {exc}") from exc
        helper = cls(proc, "")
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), STARTUP_TIMEOUT_S)
            helper.url = str(json.loads(line)["listening"])
        except (TimeoutError, ValueError, KeyError, TypeError) as exc:
            await helper.stop()
            raise CodexConfigError(f"the relay helper did not start (see {log.name})") from exc
        return helper

    async def stop(self, grace_s: float = 3.0) -> None:
        """Close its stdin (it exits on EOF); TERM, then KILL if it lingers."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
            try:
                await asyncio.wait_for(self.proc.wait(), grace_s)
                return
            except TimeoutError:
                continue


class RelayHelperBackend(CodexCliBackend):
    """Codex with no credential, its model calls forwarded by a token-holding helper."""

    name = "relay_helper"
    execution_class = "governed_subprocess"

    def __init__(self, settings: SandboxSettings, confinement: Confinement | None = None) -> None:
        super().__init__(settings, confinement)
        # Codex's own environment is scrubbed whatever HIVE_SANDBOX_CODEX_AUTH_MODE says.
        self.codex = msgspec.structs.replace(settings.codex, auth_mode="scrubbed")

    async def access(self, ctx: AttemptContext, paths: AttemptPaths) -> ProviderAccess:
        """Start the helper with a fresh task token; Codex talks to the helper without a key."""
        if not self.settings.gateway_url:
            raise CodexConfigError(
                "relay_helper needs HIVE_GATEWAY_URL (the relay and task tokens)"
            )
        token = await self.task_token(ctx)
        helper = await RelayHelperProcess.start(
            relay_url=self.settings.gateway_url,
            token=token,
            home=paths.home,
            tmpdir=paths.tmpdir,
            log=ctx.log_dir / f"relay-helper-attempt-{ctx.attempt_no}.log",
            confinement=self.confinement,
        )
        provider = Provider(
            id="openhive-relay-helper",
            name="OpenHive relay helper",
            base_url=helper.url,
            env_key=None,
        )
        return ProviderAccess(provider, secrets=(token,), cleanup=helper.stop)


def create(settings: SandboxSettings, confinement: Confinement | None = None) -> RelayHelperBackend:
    """The backend registry's entry point."""
    return RelayHelperBackend(settings, confinement)
