"""Connections of the event store: the pool and its codecs, and the wake-up hint to subscribers."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import asyncpg

log = logging.getLogger("hive.events.store")

CHANNEL: Final = "hive_events"


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb travels as raw UTF-8 bytes so msgspec encodes and decodes it directly."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: b"\x01" + value,
        decoder=lambda value: value[1:],
        format="binary",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset round trip (RESET ALL, UNLISTEN *, ...).

    The store never leaves session state behind: it sets no GUCs, uses only
    transaction-scoped locks, and subscribers remove their listeners themselves.
    The default reset would double the round trips of a single-event append.
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections carry the store's codecs."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=_keep_session,
        # The store's statements are prepared once per connection and their plans do
        # not depend on parameter values; a generic plan skips re-planning the append
        # CTE on every call (about 10% of a single-event append).
        server_settings={"plan_cache_mode": "force_generic_plan"},
    )


class Notifier:
    """Coalesced `NOTIFY hive_events` after appends: a wake-up hint, off the append path.

    A NOTIFY inside the append transaction costs every commit the notification
    queue's global lock (about 20% of a single-event append). Subscribers poll
    anyway, so the hint is sent after the append returned, at most once per
    `interval_s` per store, as a separate statement; a lost hint costs latency only.
    A negative interval turns hints off.
    """

    def __init__(self, pool: asyncpg.Pool, interval_s: float) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self._pending = False

    def poke(self) -> None:
        """Schedule one NOTIFY unless one is already scheduled."""
        if self._pending or self.interval_s < 0:
            return
        self._pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(self.interval_s, lambda: loop.create_task(self._send()))

    async def _send(self) -> None:
        self._pending = False
        try:
            async with self.pool.acquire(timeout=1) as c:
                await c.execute("SELECT pg_notify($1, '')", CHANNEL)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.debug("event notification skipped: %s", exc)
