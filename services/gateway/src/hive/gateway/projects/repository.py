"""Projects: a name and the workspace it points at.

A workspace is a directory under `HIVE_WORKSPACE` (named by the project, or
a relative path that must stay inside it) or an absolute path. An existing
directory is used as it is; a missing one is created when the project is
(`project_workspace`). Two projects never share a workspace: names or paths
that come to the same directory (`../evil` and `evil` both slug to `evil`)
are a conflict. The sandbox seeds each dev task from the workspace.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from hive.contracts.api import Project

_SLUG = re.compile(r"[^a-z0-9]+")


class ProjectError(ValueError):
    """A project request that cannot be honoured (mapped to 422)."""


class DuplicateProject(Exception):
    """A project with that name exists (mapped to 409)."""


class WorkspaceTaken(Exception):
    """Another project already uses that workspace (mapped to 409)."""

    def __init__(self, other: str, path: str) -> None:
        super().__init__(f"project {other!r} already uses the workspace {path}")
        self.other = other
        self.path = path


# Creates are serialised (one advisory lock): the conflict checks and the insert
# must see each other, and projects are created rarely.
_CREATE_LOCK = 0x4F48_5052  # "OHPR"

Prepare = Callable[[], Awaitable[bool]]
"""Makes the workspace usable; True when it created it (so a failed insert removes it)."""


def check_name(name: str) -> str:
    """The trimmed name, or ProjectError."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= 100 or any(ord(c) < 32 for c in trimmed):
        raise ProjectError("name must be 1-100 printable characters")
    return trimmed


def workspace_for(root: Path, name: str, given: str | None) -> str:
    """The absolute, normalised workspace path of a project."""
    if given is None or not given.strip():
        slug = _SLUG.sub("-", name.lower()).strip("-") or "project"
        return str(root / slug)
    if "\x00" in given:
        raise ProjectError("workspace_path must not contain NUL")
    path = Path(given)
    if path.is_absolute():
        return os.path.normpath(path)
    resolved = Path(os.path.normpath(root / path))
    if resolved != root and root not in resolved.parents:
        raise ProjectError("a relative workspace_path must stay inside HIVE_WORKSPACE")
    return str(resolved)


def _sharing(path: str, others: list[tuple[str, str]]) -> str | None:
    """The name of a project whose workspace is the same directory as `path`, if any."""
    real = os.path.realpath(path)
    for name, other in others:
        if other == path or os.path.realpath(other) == real:
            return name
    return None


def _row(row: asyncpg.Record) -> Project:
    return Project(
        project_id=row["project_id"], name=row["name"], workspace_path=row["workspace_path"]
    )


class ProjectRepository:
    """Queries on `projects`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        name: str,
        workspace_path: str,
        created_by: str | None,
        prepare: Prepare,
        discard: Callable[[], None],
    ) -> Project:
        """Insert a project after `prepare` made its workspace usable.

        DuplicateProject when the name is taken, WorkspaceTaken when another project
        uses the same directory (compared normalised and with symlinks resolved);
        nothing is created on disk in either case.
        """
        project_id = "prj_" + secrets.token_hex(8)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _CREATE_LOCK)
            if await conn.fetchval("SELECT 1 FROM projects WHERE name = $1", name):
                raise DuplicateProject(name)
            rows = await conn.fetch("SELECT name, workspace_path FROM projects")
            taken = await asyncio.to_thread(
                _sharing, workspace_path, [(r["name"], r["workspace_path"]) for r in rows]
            )
            if taken is not None:
                raise WorkspaceTaken(taken, workspace_path)
            created = await prepare()
            try:
                row = await conn.fetchrow(
                    "INSERT INTO projects (project_id, name, workspace_path, created_by) "
                    "VALUES ($1, $2, $3, $4) RETURNING project_id, name, workspace_path",
                    project_id,
                    name,
                    workspace_path,
                    created_by,
                )
            except BaseException:
                if created:
                    discard()
                raise
        return _row(row)

    async def get(self, project_id: str) -> Project | None:
        """One project, or None."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT project_id, name, workspace_path FROM projects WHERE project_id = $1",
                project_id,
            )
        return None if row is None else _row(row)

    async def list(self) -> list[Project]:
        """Every project, oldest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT project_id, name, workspace_path FROM projects ORDER BY created_at, name"
            )
        return [_row(r) for r in rows]
