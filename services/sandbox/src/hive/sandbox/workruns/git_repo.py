"""Git as the patch engine: baseline commits, exact diffs, checked apply-back.

Every git call runs with a built environment (no inherited credentials, no
global or system config, no pager) and with the repo-local features that could
run code switched off: a backend may have written `.git/config` or hooks into
the task repo, so fsmonitor, hooks, external diff drivers, textconv and every
transport are disabled on the command line, where repo config cannot override
them.

The command line cannot switch off a filter driver (`filter.<name>.clean`, any
name, possibly from an `include.path`): only the repo config defines one. So
the `.git` files the seed wrote are pinned outside the repo (`pin_trusted`) and
put back before each git call the worker makes on the task repo afterwards
(`restore_trusted`); attributes in the working tree then name drivers that do
not exist, which git ignores. git is an allowlisted governed command, so an
attempt rewriting its own config is expected, not an error: the repair is
logged and reported with the patch.

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
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hive.contracts.hardened_git import SAFE_CONFIG, hardened_env
from hive.sandbox.environment import base_path

_SAFE_CONFIG = (
    *SAFE_CONFIG,
    "-c",
    "commit.gpgsign=false",
    "-c",
    "user.name=OpenHive sandbox",
    "-c",
    "user.email=sandbox@openhive.invalid",
    "-c",
    "init.defaultBranch=main",
)

log = logging.getLogger("hive.sandbox.git")

# What git reads from `.git` that the seed wrote, pinned as `<trusted>/<name>`.
_PINNED: Final = {"config": "config", "info/exclude": "info-exclude"}


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


def git_env(*, ceiling: Path | None = None, work_tree: Path | None = None) -> dict[str, str]:
    """The environment of every git call (`work_tree`: pin the repo to `<work_tree>/.git`)."""
    env = hardened_env(path=base_path(), ceiling=ceiling)
    if work_tree is not None:
        # Explicit dirs: a `.git` gitfile, a `commondir` file or core.worktree
        # cannot point the worker's git at a repository (and config) elsewhere.
        git_dir = str(work_tree / ".git")
        env |= {"GIT_DIR": git_dir, "GIT_COMMON_DIR": git_dir, "GIT_WORK_TREE": str(work_tree)}
    return env


async def git(
    cwd: Path,
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    ceiling: Path | None = None,
    work_tree: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[int, bytes, bytes]:
    """Run `git <args>` in `cwd`; GitError on a non-zero exit when `check`, GitTimeout past the limit."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *_SAFE_CONFIG,
        *args,
        cwd=cwd,
        env=git_env(ceiling=ceiling, work_tree=work_tree),
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


class UntrustedRepo(GitError):
    """The task repo's `.git` is no longer the directory the seed made."""

    def __init__(self, repo: Path, why: str) -> None:
        super().__init__([], 128, f"the task repo's .git {why}; not running git on it")
        self.repo = repo


def pin_trusted(repo: Path, trusted: Path) -> None:
    """After the seed: save the `.git` files git reads to `trusted` (outside the repo), drop hooks."""
    git_dir = repo / ".git"
    trusted.mkdir(mode=0o700, parents=True, exist_ok=True)
    for rel, name in _PINNED.items():
        if (git_dir / rel).is_file():
            shutil.copyfile(git_dir / rel, trusted / name)
    # `git init`'s *.sample hooks never run; with none left, any hook is foreign.
    hooks = git_dir / "hooks"
    for entry in sorted(hooks.iterdir()) if hooks.is_dir() else ():
        _remove(entry)


def restore_trusted(repo: Path, trusted: Path) -> list[str]:
    """Put back the `.git` files pinned at seed time; return what had to be repaired."""
    git_dir = repo / ".git"
    if not _real_dir(git_dir):
        raise UntrustedRepo(repo, "is not a directory")
    repaired: list[str] = []
    for sub in ("info", "hooks"):
        path = git_dir / sub
        if not _real_dir(path):  # a symlink would send the writes below elsewhere
            if os.path.lexists(path):
                _remove(path)
                repaired.append(sub)
            path.mkdir()
    for rel, name in _PINNED.items():
        path = git_dir / rel
        want = _read_regular(trusted / name)
        if _read_regular(path) == want and (want is not None or not os.path.lexists(path)):
            continue
        if os.path.lexists(path):
            _remove(path)
        if want is not None:
            with path.open("xb") as f:  # exclusive: never through a link planted meanwhile
                f.write(want)
        repaired.append(rel)
    # Paths the seed never writes, where git would find attributes or programs.
    for rel in ("info/attributes", "commondir", "config.worktree"):
        if os.path.lexists(git_dir / rel):
            _remove(git_dir / rel)
            repaired.append(rel)
    for entry in sorted((git_dir / "hooks").iterdir()):
        _remove(entry)
        repaired.append(f"hooks/{entry.name}")
    if repaired:
        log.warning(
            "restored the seeded git state of %s before the sandbox's git ran: %s",
            repo,
            ", ".join(repaired),
            extra={"repo": str(repo), "git_state_repaired": repaired},
        )
    return repaired


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file, None for anything else (absent, symlink, directory)."""
    if path.is_symlink() or not path.is_file():
        return None
    return path.read_bytes()


def _remove(path: Path) -> None:
    if _real_dir(path):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


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
    # `.git` files put back before computing it (see restore_trusted); empty when untouched.
    repaired: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """Hex digest of the diff bytes."""
        return hashlib.sha256(self.diff).hexdigest()


async def diff_against(
    repo: Path,
    baseline: str,
    *,
    trusted: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Patch:
    """Everything the attempt changed (committed or not) relative to the baseline.

    With `trusted` (the task's pinned `.git` files), each git call first puts
    them back and runs on `<repo>/.git` named explicitly.
    """
    repaired: list[str] = []

    async def run(*args: str) -> bytes:
        work_tree = None
        if trusted is not None:
            repaired.extend(r for r in restore_trusted(repo, trusted) if r not in repaired)
            work_tree = repo
        _, out, _ = await git(repo, *args, work_tree=work_tree, timeout_s=timeout_s)
        return out

    await run("add", "-A")
    common = ("--cached", "--no-ext-diff", "--no-textconv", "--no-color", "--no-renames")
    diff = await run("diff", *common, "--binary", "--full-index", baseline)
    numstat = await run("diff", *common, "--numstat", "-z", baseline)
    insertions = deletions = 0
    paths: list[str] = []
    for entry in numstat.decode(errors="surrogateescape").split("\0"):
        if not entry:
            continue
        added, removed, path = entry.split("\t", 2)
        insertions += int(added) if added.isdigit() else 0
        deletions += int(removed) if removed.isdigit() else 0
        paths.append(path)
    return Patch(diff, len(paths), insertions, deletions, paths, tuple(repaired))


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
