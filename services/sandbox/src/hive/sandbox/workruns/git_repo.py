"""Git as the patch engine: baseline commits, exact diffs, checked apply-back.

Every git call runs with a built environment (no inherited credentials, no
global or system config) and with the repo-local features that could run code
switched off: a backend may have written `.git/config` or hooks into the task
repo, so fsmonitor, hooks, external diff drivers and textconv are disabled on
the command line, where repo config cannot override them.

Every call has a time limit (HIVE_SANDBOX_GIT_TIMEOUT_S): a repository can make
git arbitrarily slow (a huge tree, a slow disk, a filter driver in its config),
and a seed, a patch or an apply-back must end as a clear failure, never hang.
git runs in a session of its own so that, past the limit, it is killed together
with whatever it started (filter drivers run as `sh -c` children).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Final

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


DEFAULT_TIMEOUT_S: Final = 300.0


class GitError(Exception):
    """A git command failed; `stderr` holds its (secret-free) complaint."""

    def __init__(self, argv: list[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(argv)} exited {code}: {stderr.strip()[:500]}")
        self.code = code
        self.stderr = stderr


class GitTimeout(GitError):
    """A git command ran past its time limit; it and its children were killed."""

    def __init__(self, argv: list[str], timeout_s: float) -> None:
        verb = argv[0] if argv else ""
        super().__init__(
            argv, -signal.SIGKILL, f"git {verb} timed out after {timeout_s:g} s and was killed"
        )
        self.timeout_s = timeout_s


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
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[int, bytes, bytes]:
    """Run `git <args>` in `cwd`; GitError on a non-zero exit when `check`, GitTimeout past the limit."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *_SAFE_CONFIG,
        *args,
        cwd=cwd,
        env=git_env(ceiling=ceiling),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    except TimeoutError:
        await _kill(proc)
        raise GitTimeout(list(args), timeout_s) from None
    except BaseException:
        await _kill(proc)  # cancelled (the attempt or the sandbox stopped): no orphan git
        raise
    code = proc.returncode or 0
    if check and code != 0:
        raise GitError(list(args), code, err.decode(errors="replace"))
    return code, out, err


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL git's whole session (it and the filters it started) and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(proc.wait())


async def commit_baseline(repo: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """`git init` + commit every file as the seed's baseline; return the commit id."""
    await git(repo, "init", "-q", timeout_s=timeout_s)
    # -f: the baseline is exactly what was seeded, .gitignore'd files included,
    # so a later diff shows every change to them and nothing else.
    await git(repo, "add", "-A", "-f", timeout_s=timeout_s)
    await git(
        repo,
        "commit",
        "-q",
        "--allow-empty",
        "--no-verify",
        "-m",
        "OpenHive seed",
        timeout_s=timeout_s,
    )
    _, out, _ = await git(repo, "rev-parse", "HEAD", timeout_s=timeout_s)
    return out.decode().strip()


async def baseline_tarball(
    repo: Path, commit: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> bytes:
    """A gzip tar of the baseline tree (what a requeue seeds from)."""
    # The tree, not the commit: no pax header with the commit id, so an empty
    # tree is a valid empty tar rather than a header with nothing after it.
    _, out, _ = await git(
        repo, "archive", "--format=tar.gz", f"{commit}^{{tree}}", timeout_s=timeout_s
    )
    return out


async def is_work_tree(path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when `path` is inside a git working tree."""
    code, out, _ = await git(
        path, "rev-parse", "--is-inside-work-tree", check=False, timeout_s=timeout_s
    )
    return code == 0 and out.strip() == b"true"


async def source_files(path: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """Tracked and untracked-but-not-ignored files under `path`, relative to it."""
    _, out, _ = await git(
        path,
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
        "--",
        ".",
        timeout_s=timeout_s,
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


async def diff_against(repo: Path, baseline: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Patch:
    """Everything the attempt changed (committed or not) relative to the baseline."""
    await git(repo, "add", "-A", timeout_s=timeout_s)
    common = ("--cached", "--no-ext-diff", "--no-textconv", "--no-color", "--no-renames")
    _, diff, _ = await git(
        repo, "diff", *common, "--binary", "--full-index", baseline, timeout_s=timeout_s
    )
    _, numstat, _ = await git(
        repo, "diff", *common, "--numstat", "-z", baseline, timeout_s=timeout_s
    )
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


async def apply_check(
    target: Path, diff: bytes, *, reverse: bool = False, timeout_s: float = DEFAULT_TIMEOUT_S
) -> str | None:
    """None when the patch applies cleanly to `target` (or, `reverse`, is already in it), else git's reason."""
    code, _, err = await git(
        target,
        "apply",
        "--check",
        *(("--reverse",) if reverse else ()),
        "-",
        stdin=diff,
        check=False,
        ceiling=target.parent,
        timeout_s=timeout_s,
    )
    return None if code == 0 else (err.decode(errors="replace").strip() or f"exit {code}")


async def apply(target: Path, diff: bytes, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Apply the patch to the files of `target` (working tree only, never the index).

    The ceiling stops git from discovering an enclosing repository: inside one,
    paths would be taken relative to its top level and files outside `target`
    silently skipped.
    """
    await git(
        target,
        "apply",
        "--whitespace=nowarn",
        "-",
        stdin=diff,
        ceiling=target.parent,
        timeout_s=timeout_s,
    )
