"""Git as the patch engine: baseline commits, exact diffs, checked apply-back.

Every git call runs with a built environment (no inherited credentials, no
global or system config) and with the repo-local features that could run code
switched off: a backend may have written `.git/config` or hooks into the task
repo, so fsmonitor, hooks, external diff drivers and textconv are disabled on
the command line, where repo config cannot override them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from hive.sandbox.environment import base_path

_SAFE_CONFIG = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "user.name=OpenHive sandbox",
    "-c",
    "user.email=sandbox@openhive.invalid",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.quotePath=false",
)


class GitError(Exception):
    """A git command failed; `stderr` holds its (secret-free) complaint."""

    def __init__(self, argv: list[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(argv)} exited {code}: {stderr.strip()[:500]}")
        self.code = code
        self.stderr = stderr


def git_env(*, ceiling: Path | None = None) -> dict[str, str]:
    """The environment of every git call."""
    env = {
        "PATH": base_path(),
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
    }
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    return env


async def git(
    cwd: Path,
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    ceiling: Path | None = None,
) -> tuple[int, bytes, bytes]:
    """Run `git <args>` in `cwd`; raise GitError on a non-zero exit when `check`."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *_SAFE_CONFIG,
        *args,
        cwd=cwd,
        env=git_env(ceiling=ceiling),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin)
    code = proc.returncode or 0
    if check and code != 0:
        raise GitError(list(args), code, err.decode(errors="replace"))
    return code, out, err


async def commit_baseline(repo: Path) -> str:
    """`git init` + commit every file as the seed's baseline; return the commit id."""
    await git(repo, "init", "-q")
    # -f: the baseline is exactly what was seeded, .gitignore'd files included,
    # so a later diff shows every change to them and nothing else.
    await git(repo, "add", "-A", "-f")
    await git(repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", "OpenHive seed")
    _, out, _ = await git(repo, "rev-parse", "HEAD")
    return out.decode().strip()


async def baseline_tarball(repo: Path, commit: str) -> bytes:
    """A gzip tar of the baseline tree (what a requeue seeds from)."""
    # The tree, not the commit: no pax header with the commit id, so an empty
    # tree is a valid empty tar rather than a header with nothing after it.
    _, out, _ = await git(repo, "archive", "--format=tar.gz", f"{commit}^{{tree}}")
    return out


async def is_work_tree(path: Path) -> bool:
    """True when `path` is inside a git working tree."""
    code, out, _ = await git(path, "rev-parse", "--is-inside-work-tree", check=False)
    return code == 0 and out.strip() == b"true"


async def source_files(path: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files under `path`, relative to it."""
    _, out, _ = await git(
        path, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."
    )
    return sorted({p for p in out.decode(errors="surrogateescape").split("\0") if p})


@dataclass(frozen=True, slots=True)
class Patch:
    """A unified diff with its stats."""

    diff: bytes
    files_changed: int
    insertions: int
    deletions: int
    paths: list[str]

    @property
    def sha256(self) -> str:
        """Hex digest of the diff bytes."""
        return hashlib.sha256(self.diff).hexdigest()


async def diff_against(repo: Path, baseline: str) -> Patch:
    """Everything the attempt changed (committed or not) relative to the baseline."""
    await git(repo, "add", "-A")
    common = ("--cached", "--no-ext-diff", "--no-textconv", "--no-color", "--no-renames")
    _, diff, _ = await git(repo, "diff", *common, "--binary", "--full-index", baseline)
    _, numstat, _ = await git(repo, "diff", *common, "--numstat", "-z", baseline)
    insertions = deletions = 0
    paths: list[str] = []
    for entry in numstat.decode(errors="surrogateescape").split("\0"):
        if not entry:
            continue
        added, removed, path = entry.split("\t", 2)
        insertions += int(added) if added.isdigit() else 0
        deletions += int(removed) if removed.isdigit() else 0
        paths.append(path)
    return Patch(diff, len(paths), insertions, deletions, paths)


async def apply_check(target: Path, diff: bytes) -> str | None:
    """None when the patch applies cleanly to `target`, else git's reason."""
    code, _, err = await git(
        target, "apply", "--check", "-", stdin=diff, check=False, ceiling=target.parent
    )
    return None if code == 0 else (err.decode(errors="replace").strip() or f"exit {code}")


async def apply(target: Path, diff: bytes) -> None:
    """Apply the patch to the files of `target` (working tree only, never the index).

    The ceiling stops git from discovering an enclosing repository: inside one,
    paths would be taken relative to its top level and files outside `target`
    silently skipped.
    """
    await git(target, "apply", "--whitespace=nowarn", "-", stdin=diff, ceiling=target.parent)
