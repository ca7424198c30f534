"""The spawn journal: what a sandbox answered or started but never recorded is recovered on startup."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hive.events import EventStore
from hive.sandbox.commands import GovernedCommands
from hive.sandbox.commands.journal import PendingSpawn, SpawnJournal
from hive.sandbox.commands.records import Finish, create_commands_pool
from hive.sandbox.main import build_commands
from hive.sandbox.settings import SandboxSettings
from hive.sandbox.storage import SandboxStorage


@pytest.fixture
async def make_commands(tmp_path: Path) -> AsyncIterator[tuple[Path, list[GovernedCommands]]]:
    """(root, opened): tests open GovernedCommands on `root` with `open_commands`; closed after."""
    opened: list[GovernedCommands] = []
    yield tmp_path / "root", opened
    for commands in opened:
        await commands.close()
        await commands.records.store.pool.close()


async def open_commands(
    database_url: str, root: Path, opened: list[GovernedCommands]
) -> GovernedCommands:
    """GovernedCommands as the sandbox wires it, opened (journal recovery runs here)."""
    settings = SandboxSettings.from_env(
        {"HIVE_INTERNAL_SECRET": "x", "DATABASE_URL": database_url, "HIVE_SANDBOX_ROOT": str(root)}
    )
    pool = await create_commands_pool(database_url)
    commands = build_commands(settings, SandboxStorage(settings.root), EventStore(pool))
    await commands.open()
    opened.append(commands)
    return commands


async def test_an_answered_but_unrecorded_command_is_recorded_with_its_real_end(
    database_url: str, make_commands: tuple[Path, list[GovernedCommands]]
) -> None:
    root, opened = make_commands
    journal = SpawnJournal(root / "commands" / ".spawn-journal")
    command_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    end = Finish("exited", 7, None, now, 0.01, 12, 0, 0, 0)
    journal.open()
    entry = PendingSpawn(
        command_id=command_id, task_id=None, attempt_no=None, argv=["true"], cwd="/",
        pid=2**22 - 3, timeout_s=5.0, started_at=now,
    )  # fmt: skip
    journal.write(entry)
    journal.write(
        PendingSpawn(**{**{f: getattr(entry, f) for f in entry.__struct_fields__}, "end": end})
    )
    journal.close()

    commands = await open_commands(database_url, root, opened)
    status = await commands.status(command_id)
    assert status.state == "exited"
    assert status.exit_code == 7
    assert status.stdout.size_bytes == 12


async def test_a_started_but_unrecorded_command_is_killed_and_lost(
    database_url: str, make_commands: tuple[Path, list[GovernedCommands]]
) -> None:
    root, opened = make_commands
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        journal = SpawnJournal(root / "commands" / ".spawn-journal")
        journal.open()
        command_id = uuid.uuid4().hex
        journal.write(
            PendingSpawn(
                command_id=command_id, task_id=None, attempt_no=None, argv=["sleep", "300"],
                cwd="/", pid=orphan.pid, timeout_s=None, started_at=datetime.now(UTC),
            )
        )  # fmt: skip
        journal.close()

        commands = await open_commands(database_url, root, opened)
        status = await commands.status(command_id)
        assert status.state == "lost"
        assert "before recording" in (status.reason or "")
        orphan.wait(10)  # our own child here, so reap it; the journal recovery killed it
        assert orphan.returncode == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
            orphan.wait()


async def test_answers_come_before_records_but_reads_see_them(
    database_url: str, make_commands: tuple[Path, list[GovernedCommands]]
) -> None:
    root, opened = make_commands
    commands = await open_commands(database_url, root, opened)
    status = await commands.start(["true"], wait_recorded=False)
    assert status.state == "exited"
    listed = await commands.list(state="exited")
    assert status.command_id in [c.command_id for c in listed]
    row = await commands.records.get(status.command_id)
    assert row is not None and row.state == "exited"
    assert not commands.journal.pending
