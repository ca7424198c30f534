"""A project's workspace on disk: an existing directory is used, a missing one is created.

Only under HIVE_WORKSPACE: an absolute path elsewhere must already exist (the
gateway does not make directories wherever an API caller names, and a typo
outside the workspace root is an error, not a new directory).
A new workspace is an empty git repository with one (empty) initial commit, so
the first Work Run has a baseline and its approved patch has a repository to
land in. git runs with the environment `working_tree.git_env` builds (no
inherited secrets, no global or system config). Every failure is a
`WorkspaceUnusable` whose message names the path and the real cause.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from hive.gateway.dev_tasks.working_tree import git_env

GIT_TIMEOUT_S = 30.0
AUTHOR = ("-c", "user.name=OpenHive", "-c", "user.email=openhive@localhost.invalid")


class WorkspaceUnusable(Exception):
    """The workspace cannot be used or created (the message says why; mapped to 422)."""


def check_existing(path: Path) -> None:
    """An existing workspace must be a directory the gateway can read."""
    if not path.is_dir():
        raise WorkspaceUnusable(f"workspace_path {path} exists and is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise WorkspaceUnusable(f"workspace_path {path} is not readable by the gateway")


async def _git(path: Path, *args: str) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *AUTHOR,
            *args,
            cwd=path,
            env=git_env(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise WorkspaceUnusable(
            f"cannot create a git repository in {path}: git cannot be started ({exc.strerror})"
        ) from exc
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise WorkspaceUnusable(f"git {args[0]} in {path} took over {GIT_TIMEOUT_S:.0f}s") from None
    if proc.returncode != 0:
        reason = err.decode(errors="replace").strip()[:500] or f"exit {proc.returncode}"
        raise WorkspaceUnusable(f"git {args[0]} in {path} failed: {reason}")


def _claim_directory(path: Path, root: Path) -> bool:
    """Check an existing workspace (False), or make the missing directory under `root` (True)."""
    if path.exists() or path.is_symlink():
        check_existing(path)
        return False
    if root not in path.parents:
        raise WorkspaceUnusable(
            f"workspace_path {path} does not exist; the gateway creates workspaces only under "
            f"HIVE_WORKSPACE ({root}): create the directory first, or give a relative path"
        )
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise WorkspaceUnusable(
            f"workspace_path {path} appeared while it was being created"
        ) from None
    except OSError as exc:
        raise WorkspaceUnusable(
            f"cannot create the workspace {path}: {exc.strerror} "
            "(check HIVE_WORKSPACE, or give an existing directory as workspace_path)"
        ) from exc
    return True


async def ensure_workspace(path: Path, root: Path) -> bool:
    """Use an existing workspace, or create one under `root` (HIVE_WORKSPACE) as an empty
    git repository with an initial commit.

    True when it was created here; a creation that fails half-way is removed again.
    """
    if not await asyncio.to_thread(_claim_directory, path, root):
        return False
    try:
        await _git(path, "init", "--quiet", "--initial-branch=main")
        await _git(path, "commit", "--quiet", "--allow-empty", "-m", "OpenHive workspace")
    except BaseException:
        discard_workspace(path)
        raise
    return True


def discard_workspace(path: Path) -> None:
    """Remove a workspace this request created (its project was not stored)."""
    shutil.rmtree(path, ignore_errors=True)
