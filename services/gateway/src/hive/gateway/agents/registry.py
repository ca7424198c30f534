"""The agent registry and the run index (`agents`, `agent_runs`): queries only here."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from hive.contracts.agents import AgentConfig

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


class DuplicateAgent(Exception):
    """An agent with that id exists (or existed: ids are never reused)."""


class UnusableAgentId(ValueError):
    """An agent id the registry does not accept."""


def check_agent_id(agent_id: str) -> str:
    """`agent_id` if acceptable: 1-128 of letters, digits and `._:@-`, not starting with one."""
    if not _ID.match(agent_id):
        raise UnusableAgentId(
            "agent_id must be 1-128 characters of letters, digits and . _ : @ -, "
            "starting with a letter or digit"
        )
    return agent_id


def new_agent_id() -> str:
    """A fresh agent id."""
    return "agt_" + secrets.token_hex(8)


def workspace_name(agent_id: str) -> str:
    """A directory name for an agent (ids may hold characters paths should not)."""
    return hashlib.sha256(agent_id.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """A registered agent."""

    config: AgentConfig
    created_at: datetime

    @property
    def agent_id(self) -> str:
        """Its id."""
        return self.config.agent_id


def _record(row: asyncpg.Record) -> AgentRecord:
    return AgentRecord(
        config=msgspec.json.decode(row["config"], type=AgentConfig), created_at=row["created_at"]
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    """One row of the run index."""

    run_id: str
    agent_id: str
    status: str
    stream_version: int


class AgentRegistry:
    """Queries on `agents` and `agent_runs`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, config: AgentConfig) -> AgentRecord:
        """Insert; DuplicateAgent when the id was ever used."""
        try:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "INSERT INTO agents (agent_id, project_id, role, config) "
                    "VALUES ($1, $2, $3, $4) RETURNING config, created_at",
                    config.agent_id,
                    config.project_id,
                    config.role,
                    msgspec.json.encode(config),  # jsonb travels as bytes (the store's codec)
                )
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateAgent(config.agent_id) from exc
        return _record(row)

    async def get(self, agent_id: str) -> AgentRecord | None:
        """A live agent, or None."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT config, created_at FROM agents WHERE agent_id = $1 AND deleted_at IS NULL",
                agent_id,
            )
        return None if row is None else _record(row)

    async def live(self) -> list[AgentRecord]:
        """Every live agent, oldest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT config, created_at FROM agents WHERE deleted_at IS NULL "
                "ORDER BY created_at, agent_id"
            )
        return [_record(r) for r in rows]

    async def delete(self, agent_id: str) -> bool:
        """Mark deleted; False when there was no live agent."""
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                "UPDATE agents SET deleted_at = now() WHERE agent_id = $1 AND deleted_at IS NULL",
                agent_id,
            )
        return str(done).endswith(" 1")

    async def run(self, run_id: str, conn: asyncpg.Connection | None = None) -> RunRow | None:
        """The index row of a run."""
        sql = "SELECT run_id, agent_id, status, stream_version FROM agent_runs WHERE run_id = $1"
        if conn is not None:
            row = await conn.fetchrow(sql, run_id)
        else:
            async with self.pool.acquire() as c:
                row = await c.fetchrow(sql, run_id)
        return None if row is None else RunRow(**dict(row))

    async def runs(
        self, agent_id: str, status: str | None = None, limit: int = 100
    ) -> list[RunRow]:
        """An agent's runs, newest first."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT run_id, agent_id, status, stream_version FROM agent_runs "
                "WHERE agent_id = $1 AND ($2::text IS NULL OR status = $2) "
                "ORDER BY created_at DESC LIMIT $3",
                agent_id,
                status,
                limit,
            )
        return [RunRow(**dict(r)) for r in rows]
