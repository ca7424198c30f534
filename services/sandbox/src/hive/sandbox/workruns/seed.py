"""Seeding a task's repo: a copy of the requested path, an extracted archive, or nothing.

After the files land, `git init` and one baseline commit of everything make
the later patch exact (`git diff <baseline>`), and a gzip tar of that baseline
is kept in PostgreSQL so a requeue can seed a fresh task even when this task's
directory is gone.

Copying a requested path is git-aware: when it lies inside a git working tree
the seed is every tracked file plus every untracked file that is not ignored,
at its working-tree content (uncommitted edits included), and never the
`.git` internals; outside git it is every file except `.git` directories.
Symlinks are kept when they point inside the copied tree and dropped
otherwise; submodules, sockets and devices are skipped.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path

from hive.contracts.events import SeedSource
from hive.sandbox.workruns import archive, git_repo
from hive.sandbox.workruns.errors import ArchiveRejected, InvalidRequest


@dataclass(frozen=True, slots=True)
class Seeded:
    """The outcome of seeding one repo."""

    source: SeedSource
    file_count: int
    size_bytes: int
    baseline_commit: str
    tarball: bytes


async def seed_repo(
    repo: Path,
    *,
    requested_path: Path | None,
    archive_bytes: bytes | None,
    limits: archive.ArchiveLimits,
    trusted: Path | None = None,
    git_timeout_s: float = git_repo.DEFAULT_TIMEOUT_S,
) -> Seeded:
    """Populate the empty `repo` and commit the baseline (GitError/GitTimeout when git fails).

    `trusted` (outside the repo) receives the `.git` files the seed wrote, which
    the worker's later git calls restore (git_repo.pin_trusted).
    """
    if archive_bytes is not None:
        source: SeedSource = "archive"
        extracted = await asyncio.to_thread(archive.extract, archive_bytes, repo, limits)
        count, size = extracted.file_count, extracted.size_bytes
    elif requested_path is not None:
        source = "requested_path"
        files = (
            await git_repo.source_files(requested_path, timeout_s=git_timeout_s)
            if await git_repo.is_work_tree(requested_path, timeout_s=git_timeout_s)
            else None
        )
        count, size = await asyncio.to_thread(copy_tree, requested_path, repo, files, limits)
    else:
        source = "empty"
        os.makedirs(repo, exist_ok=True)
        count = size = 0
    baseline = await git_repo.commit_baseline(repo, timeout_s=git_timeout_s)
    tarball = await git_repo.baseline_tarball(repo, baseline, timeout_s=git_timeout_s)
    if trusted is not None:
        await asyncio.to_thread(git_repo.pin_trusted, repo, trusted)
    return Seeded(source, count, size, baseline, tarball)


def _walk(src: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        rel_dir = os.path.relpath(dirpath, src)
        for name in sorted(filenames) + [
            d for d in dirnames if os.path.islink(os.path.join(dirpath, d))
        ]:
            out.append(name if rel_dir == "." else posixpath.join(rel_dir, name))
    return out


def copy_tree(
    src: Path, dest: Path, files: list[str] | None, limits: archive.ArchiveLimits
) -> tuple[int, int]:
    """Copy `files` (or the whole tree) from src into dest; return (files, bytes)."""
    dest.mkdir(parents=True, exist_ok=True)
    rels = files if files is not None else _walk(src)
    count = total = 0
    for rel in rels:
        parts = rel.split("/")
        if ".." in parts or rel.startswith("/") or ".git" in parts:
            continue
        path = src / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue  # tracked but deleted in the working tree
        target = dest / rel
        if path.is_symlink():
            link = os.readlink(path)
            try:
                archive.link_target_inside(rel, link)
            except ArchiveRejected:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, target)
            continue
        if not path.is_file():
            continue
        count += 1
        total += st.st_size
        if count > limits.max_files or total > limits.max_total_bytes:
            raise InvalidRequest(
                f"requested_path holds more than {limits.max_files} files or "
                f"{limits.max_total_bytes} bytes"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target, follow_symlinks=False)
    return count, total
