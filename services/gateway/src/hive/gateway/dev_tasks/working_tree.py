"""`git apply` on an operator's working tree: checked first, never the index.

The gateway runs git under the rules of `hive.contracts.hardened_git`, as the
sandbox does: an environment built from nothing (no inherited secrets, no
system or global config or attributes, no replace objects, no pager) and the
repo-local features that could run code switched off on the command line.
`GIT_CEILING_DIRECTORIES` is the target's parent: a target that is itself a
repository is used as one; a directory inside some enclosing repository is
patched as a plain directory, so the patch's paths stay relative to the target
(inside the enclosing repo they would be taken from its top level and files
outside the target silently skipped).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from hive.contracts.hardened_git import SAFE_CONFIG, hardened_env

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
    return hardened_env(ceiling=target.parent)


def _config(target: Path) -> list[str]:
    return [
        *SAFE_CONFIG,
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
