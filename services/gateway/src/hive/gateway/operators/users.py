"""Operators: who may log in to the control plane.

`create_or_reset_user` is what `hive admin create-user NAME` calls; resetting
a password also ends every session of that user.
"""

from __future__ import annotations

import re
import secrets

import asyncpg
import msgspec

from hive.events.database import asyncpg_dsn
from hive.gateway.operators.passwords import hash_password

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8


class Operator(msgspec.Struct, kw_only=True, frozen=True):
    """A logged-in operator as handlers see it."""

    user_id: str
    username: str
    is_admin: bool = False


class UserRecord(msgspec.Struct, kw_only=True, frozen=True):
    """An operator row with its password hash (never leaves this module's callers)."""

    operator: Operator
    password_hash: str
    disabled: bool


def check_username(name: str) -> None:
    """Raise ValueError unless `name` is a usable operator name."""
    if not USERNAME.match(name):
        raise ValueError(
            "username must be 1-64 characters of letters, digits, '_', '.', '@' or '-'"
        )


_UPSERT = """
INSERT INTO operators (user_id, username, password_hash, is_admin)
VALUES ($1, $2, $3, $4)
ON CONFLICT (username) DO UPDATE
    SET password_hash = EXCLUDED.password_hash, disabled = false, updated_at = now()
RETURNING user_id
"""


class UserRepository:
    """Queries on `operators`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def by_username(self, username: str) -> UserRecord | None:
        """The operator named `username`, if any."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT user_id, username, password_hash, is_admin, disabled "
                "FROM operators WHERE username = $1",
                username,
            )
        if row is None:
            return None
        return UserRecord(
            operator=Operator(
                user_id=row["user_id"], username=row["username"], is_admin=row["is_admin"]
            ),
            password_hash=row["password_hash"],
            disabled=row["disabled"],
        )

    async def create_if_missing(self, username: str, password_hash: str, *, is_admin: bool) -> bool:
        """Create the operator unless the name exists; True when created."""
        async with self.pool.acquire() as conn:
            created = await conn.fetchval(
                "INSERT INTO operators (user_id, username, password_hash, is_admin) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING true",
                _new_user_id(),
                username,
                password_hash,
                is_admin,
            )
        return bool(created)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Store a new hash (after a parameter upgrade)."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE operators SET password_hash = $2, updated_at = now() WHERE user_id = $1",
                user_id,
                password_hash,
            )


def _new_user_id() -> str:
    return "usr_" + secrets.token_hex(8)


async def upsert_user(
    conn: asyncpg.Connection, username: str, password_hash: str, *, is_admin: bool
) -> str:
    """Create the operator or reset its password (ending its sessions); return its id."""
    async with conn.transaction():
        user_id: str = await conn.fetchval(
            _UPSERT, _new_user_id(), username, password_hash, is_admin
        )
        await conn.execute("DELETE FROM operator_sessions WHERE user_id = $1", user_id)
    return user_id


async def create_or_reset_user(url: str, name: str, password: str) -> None:
    """Create operator `name` with `password`, or reset its password (the CLI's entry)."""
    check_username(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = await hash_password(password)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await upsert_user(conn, name, password_hash, is_admin=True)
    finally:
        await conn.close()
