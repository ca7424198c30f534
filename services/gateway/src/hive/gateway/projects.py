"""Projects: a name and the workspace it points at.

A workspace is a directory under `HIVE_WORKSPACE` (named by the project, or
a relative path that must stay inside it) or an absolute path. The gateway
only records it; the sandbox seeds each dev task from it.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import asyncpg

from hive.contracts.api import Project

_SLUG = re.compile(r"[^a-z0-9]+")


class ProjectError(ValueError):
    """A project request that cannot be honoured (mapped to 422)."""


class DuplicateProject(Exception):
    """A project with that name exists (mapped to 409)."""


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


def _row(row: asyncpg.Record) -> Project:
    return Project(
        project_id=row["project_id"], name=row["name"], workspace_path=row["workspace_path"]
    )


class ProjectRepository:
    """Queries on `projects`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, name: str, workspace_path: str, created_by: str | None) -> Project:
        """Insert a project; DuplicateProject when the name is taken."""
        project_id = "prj_" + secrets.token_hex(8)
        try:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "INSERT INTO projects (project_id, name, workspace_path, created_by) "
                    "VALUES ($1, $2, $3, $4) RETURNING project_id, name, workspace_path",
                    project_id,
                    name,
                    workspace_path,
                    created_by,
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateProject(name) from exc
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
