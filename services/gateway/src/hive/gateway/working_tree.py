"""`git apply` on an operator's working tree: checked first, never the index.

The gateway runs git with an environment it builds (no inherited secrets, no
global or system config) and with the repo-local features that could run code
switched off on the command line, where the repo's own config cannot undo it.
`GIT_CEILING_DIRECTORIES` is the target's parent: a target that is itself a
repository is used as one; a directory inside some enclosing repository is
patched as a plain directory, so the patch's paths stay relative to the target
(inside the enclosing repo they would be taken from its top level and files
outside the target silently skipped).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

# The reason git gives is passed on to the sandbox and the operator; bound it.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class GitResult:
    """Exit code and complaint of one git call."""

    code: int
    stderr: str

    @property
    def ok(self) -> bool:
        """True on exit 0."""
        return self.code == 0

    @property
    def reason(self) -> str:
        """git's complaint, trimmed (or the exit code when it said nothing)."""
        text = self.stderr.strip()
        return text[:MAX_REASON_CHARS] if text else f"git exited {self.code}"


class GitUnavailable(RuntimeError):
    """git could not be run at all (missing binary, timeout)."""


def git_env(target: Path) -> dict[str, str]:
    """The whole environment of a git call on `target`."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_CEILING_DIRECTORIES": str(target.parent),
    }


def _config(target: Path) -> list[str]:
    return [
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "core.quotePath=false",
        # The workspace is mounted into the gateway and is often owned by another
        # uid (a volume, an operator's checkout); the operator configured this
        # exact path as the project's workspace, which is the trust git asks for.
        "-c",
        f"safe.directory={target}",
    ]


class WorkingTree:
    """One directory the gateway may patch."""

    def __init__(self, path: Path, *, timeout_s: float = 120.0) -> None:
        self.path = path
        self.timeout_s = timeout_s

    async def _apply(self, diff: bytes, *flags: str) -> GitResult:
        argv = [
            "git",
            *_config(self.path),
            "apply",
            "--whitespace=nowarn",
            *flags,
            "-",
        ]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.path,
                env=git_env(self.path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise GitUnavailable(f"git cannot be started: {exc.strerror}") from exc
        try:
            async with asyncio.timeout(self.timeout_s):
                _, err = await proc.communicate(diff)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise GitUnavailable(f"git apply took longer than {self.timeout_s:.0f}s") from None
        return GitResult(proc.returncode or 0, err.decode(errors="replace"))

    async def check(self, diff: bytes) -> GitResult:
        """Would the patch apply cleanly? (`git apply --check`, touches nothing)."""
        return await self._apply(diff, "--check")

    async def check_applied(self, diff: bytes) -> GitResult:
        """Is the patch already in the tree? (`git apply --reverse --check`)."""
        return await self._apply(diff, "--reverse", "--check")

    async def apply(self, diff: bytes) -> GitResult:
        """Apply the patch to the working tree (all hunks or none)."""
        return await self._apply(diff)
