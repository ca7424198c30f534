"""Server-side operator sessions in PostgreSQL, and their CSRF tokens.

The browser holds a random session token in an HttpOnly cookie; the table
holds only HMAC(DASHBOARD_SESSION_SECRET, token), so reading the table (or a
backup of it) does not let anyone log in. CSRF is double-submit with
Litestar's default names (`csrftoken` cookie, `X-CSRFToken` header), and the
token is itself derived from the session token, so a cookie planted by a
sibling subdomain cannot match: the header must equal HMAC(secret, session).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg

from hive.gateway.operators.users import Operator

SESSION_COOKIE = "hive_session"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrftoken"


class SessionKeys:
    """Keys derived from DASHBOARD_SESSION_SECRET, one per purpose."""

    def __init__(self, secret: str) -> None:
        self._lookup = hashlib.sha256(b"openhive session lookup\x00" + secret.encode()).digest()
        self._csrf = hashlib.sha256(b"openhive csrf\x00" + secret.encode()).digest()

    def lookup_hash(self, token: str) -> bytes:
        """What the table stores for a session token."""
        return hmac.new(self._lookup, token.encode(), hashlib.sha256).digest()

    def csrf_token(self, token: str) -> str:
        """The CSRF token bound to a session token."""
        mac = hmac.new(self._csrf, token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def csrf_ok(self, token: str, given: str | None) -> bool:
        """True when `given` is the CSRF token of this session (constant time)."""
        return given is not None and hmac.compare_digest(
            self.csrf_token(token).encode(), given.encode()
        )


class SessionRepository:
    """Queries on `operator_sessions`."""

    def __init__(self, pool: asyncpg.Pool, keys: SessionKeys, ttl_s: int) -> None:
        self.pool = pool
        self.keys = keys
        self.ttl_s = ttl_s

    async def create(self, user_id: str) -> tuple[str, datetime]:
        """A new session for `user_id`: its cookie token and expiry."""
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(seconds=self.ttl_s)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO operator_sessions (session_hash, user_id, expires_at) "
                "VALUES ($1, $2, $3)",
                self.keys.lookup_hash(token),
                user_id,
                expires,
            )
        return token, expires

    async def operator(self, token: str) -> Operator | None:
        """The operator a live session token belongs to, or None."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT o.user_id, o.username, o.is_admin FROM operator_sessions s "
                "JOIN operators o USING (user_id) "
                "WHERE s.session_hash = $1 AND s.expires_at > now() AND NOT o.disabled",
                self.keys.lookup_hash(token),
            )
        if row is None:
            return None
        return Operator(user_id=row["user_id"], username=row["username"], is_admin=row["is_admin"])

    async def delete(self, token: str) -> None:
        """End one session."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM operator_sessions WHERE session_hash = $1",
                self.keys.lookup_hash(token),
            )

    async def prune(self) -> int:
        """Delete expired sessions; return how many."""
        async with self.pool.acquire() as conn:
            status = await conn.execute("DELETE FROM operator_sessions WHERE expires_at <= now()")
        return int(status.split()[-1])
