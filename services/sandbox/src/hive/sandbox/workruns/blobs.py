"""Bytes that must outlive the task directory: artifacts, proposed patches, seeds.

They live in PostgreSQL (bytea) next to the stream, written in the same
transaction as the event that announces them, so an `ArtifactRecorded` or
`PatchProposed` never points at bytes that were not stored. The task dir's
`artifacts/` holds a mirror for backends and operators; the database is the
source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """An artifact's bytes and facts."""

    name: str
    attempt_no: int | None
    size_bytes: int
    sha256: str
    content_type: str
    content: bytes


class BlobStore:
    """SQL of artifact, patch and seed bytes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put_artifact(self, conn: asyncpg.Connection, task_id: str, a: StoredArtifact) -> None:
        """Store (or replace) an artifact inside the caller's transaction."""
        await conn.execute(
            """
            INSERT INTO work_run_artifacts
                (task_id, name, attempt_no, size_bytes, sha256, content_type, content)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (task_id, name) DO UPDATE SET attempt_no = EXCLUDED.attempt_no,
                size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256,
                content_type = EXCLUDED.content_type, content = EXCLUDED.content,
                recorded_at = now()
            """,
            task_id,
            a.name,
            a.attempt_no,
            a.size_bytes,
            a.sha256,
            a.content_type,
            a.content,
        )

    async def artifact(self, task_id: str, name: str) -> StoredArtifact | None:
        """One artifact with its bytes."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT name, attempt_no, size_bytes, sha256, content_type, content "
                "FROM work_run_artifacts WHERE task_id = $1 AND name = $2",
                task_id,
                name,
            )
        return None if row is None else StoredArtifact(**dict(row))

    async def put_patch(
        self, conn: asyncpg.Connection, task_id: str, attempt_no: int, sha256: str, diff: bytes
    ) -> None:
        """Store the diff an attempt proposed."""
        await conn.execute(
            "INSERT INTO work_run_patches (task_id, attempt_no, sha256, diff) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (task_id, attempt_no) DO UPDATE "
            "SET sha256 = EXCLUDED.sha256, diff = EXCLUDED.diff, created_at = now()",
            task_id,
            attempt_no,
            sha256,
            diff,
        )

    async def patch(self, task_id: str, attempt_no: int) -> bytes | None:
        """The diff proposed by that attempt."""
        async with self.pool.acquire() as conn:
            diff: bytes | None = await conn.fetchval(
                "SELECT diff FROM work_run_patches WHERE task_id = $1 AND attempt_no = $2",
                task_id,
                attempt_no,
            )
        return diff

    async def put_seed(
        self, conn: asyncpg.Connection, task_id: str, sha256: str, tarball: bytes
    ) -> None:
        """Keep the seed's baseline tarball."""
        await conn.execute(
            "INSERT INTO work_run_seeds (task_id, sha256, archive) VALUES ($1, $2, $3) "
            "ON CONFLICT (task_id) DO NOTHING",
            task_id,
            sha256,
            tarball,
        )

    async def seed(self, task_id: str) -> bytes | None:
        """The baseline tarball a task was seeded with."""
        async with self.pool.acquire() as conn:
            data: bytes | None = await conn.fetchval(
                "SELECT archive FROM work_run_seeds WHERE task_id = $1", task_id
            )
        return data
