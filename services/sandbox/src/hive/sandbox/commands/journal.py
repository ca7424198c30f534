"""The spawn journal: commands that run but are not recorded in the database yet.

A command is recorded once it has settled (it ended within the settle window,
so CommandStarted and CommandFinished go in one append) or once the
window has passed. Between the spawn and that commit the only trace of the
process is a line in `<root>/commands/.spawn-journal`, so a sandbox that dies
in that window leaves something for its successor to find: on startup every
journaled command without a database row is recorded, with its journaled end
when it had one (a short command answered before its record was written),
else as `lost`, its process group killed if still running.

One append-only file, one write(2) per spawn and no fsync (it guards against
a sandbox crash, not a power cut): creating and unlinking a file per command
costs more than the rest of a short command's round trip on some disks. The
file is emptied whenever nothing is pending and it has grown past a MiB.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Final

import msgspec

from hive.sandbox.commands.records import Finish

TRUNCATE_AT: Final = 1 << 20


class PendingSpawn(msgspec.Struct, kw_only=True):
    """What the successor needs to record (and stop) an unrecorded command."""

    command_id: str
    task_id: str | None
    attempt_no: int | None
    argv: list[str]
    cwd: str
    pid: int
    timeout_s: float | None
    started_at: datetime
    end: Finish | None = None
    """Set once the command ended and was answered before its record was written."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(PendingSpawn)


class SpawnJournal:
    """Append-only record of spawns not yet in the database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: set[str] = set()
        self._fd: int | None = None

    def read(self) -> list[PendingSpawn]:
        """Entries left by a predecessor (a torn last line is ignored)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out: dict[str, PendingSpawn] = {}
        for line in data.splitlines():
            with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                entry = _decoder.decode(line)
                out[entry.command_id] = entry
        return list(out.values())

    def open(self) -> None:
        """Start a fresh journal (call after recovering the old entries)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o600)

    def close(self) -> None:
        """Close the journal file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, entry: PendingSpawn) -> None:
        """Journal a spawn before it is recorded."""
        assert self._fd is not None, "journal not open"
        os.write(self._fd, _encoder.encode(entry) + b"\n")
        self.pending.add(entry.command_id)

    def done(self, command_id: str) -> None:
        """The spawn is recorded (or was stopped): it no longer needs the journal."""
        self.pending.discard(command_id)
        if not self.pending and self._fd is not None and os.fstat(self._fd).st_size > TRUNCATE_AT:
            os.ftruncate(self._fd, 0)
