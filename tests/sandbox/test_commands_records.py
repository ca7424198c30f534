"""Command records: the connection kept for appends survives losing its server session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hive.events import EventStore
from hive.sandbox.commands import GovernedCommands
from hive.sandbox.commands.records import create_commands_pool
from hive.sandbox.main import build_commands
from hive.sandbox.settings import SandboxSettings
from hive.sandbox.storage import SandboxStorage


@pytest.fixture
async def commands(database_url: str, tmp_path: Path) -> AsyncIterator[GovernedCommands]:
    """GovernedCommands as the sandbox wires it, on a commands pool of its own."""
    settings = SandboxSettings.from_env(
        {
            "HIVE_INTERNAL_SECRET": "x",
            "DATABASE_URL": database_url,
            "HIVE_SANDBOX_ROOT": str(tmp_path / "root"),
        }
    )
    pool = await create_commands_pool(database_url)
    commands = build_commands(settings, SandboxStorage(settings.root), EventStore(pool))
    await commands.open()
    yield commands
    await commands.close()
    # Closing the pool waits for every connection to come back: it finishes only if
    # `close` handed the kept writer back.
    await asyncio.wait_for(pool.close(), 30)


async def _recorded_state(commands: GovernedCommands, command_id: str) -> str | None:
    await commands.flush()
    row = await commands.records.get(command_id)
    return None if row is None else row.state


async def test_records_resume_on_a_fresh_connection_after_the_writer_session_dies(
    commands: GovernedCommands, pool: asyncpg.Pool
) -> None:
    first = await commands.start(["true"], wait_recorded=False)
    assert first.state == "exited"
    assert await _recorded_state(commands, first.command_id) == "exited"
    writer = commands.records._writer
    assert writer is not None, "the first record should have taken a connection for appends"
    dead_pid = writer.get_server_pid()
    async with pool.acquire() as admin:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", dead_pid)
        deadline = asyncio.get_running_loop().time() + 10
        while await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", dead_pid
        ):
            assert asyncio.get_running_loop().time() < deadline, "the backend did not go away"
            await asyncio.sleep(0.05)

    # The next record meets the dead session, gives the connection back and retries on
    # a fresh one: the answered command is recorded all the same.
    second = await commands.start(["true"], wait_recorded=False)
    assert second.state == "exited"
    deadline = asyncio.get_running_loop().time() + 15
    while await _recorded_state(commands, second.command_id) is None:
        assert asyncio.get_running_loop().time() < deadline, "the command was never recorded"
        await asyncio.sleep(0.05)
    assert await _recorded_state(commands, second.command_id) == "exited"
    writer = commands.records._writer
    assert writer is not None and writer.get_server_pid() != dead_pid

    # In-process callers record on the request path: that works on the new writer too.
    third = await commands.start(["true"])
    assert await _recorded_state(commands, third.command_id) == "exited"
