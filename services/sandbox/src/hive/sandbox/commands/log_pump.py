"""Output of a governed process: its pipes drained into capped log files.

The event loop drains each pipe straight into a log file in bounded chunks,
so output never accumulates in the sandbox's memory however much a command
writes. Past the per-stream cap the log says so once; the rest is counted and
dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from typing import Final

READ_CHUNK: Final = 1 << 20
PIPE_SIZE: Final = 1 << 20
_F_SETPIPE_SZ: Final = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class LogPump:
    """Drains one pipe into a log file, keeping at most `cap` bytes of output."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_fd: int, path: Path, cap: int) -> None:
        self.loop = loop
        self.fd = read_fd
        self.path = path
        self.cap = cap
        self.size = 0
        """Bytes the process wrote to this stream."""
        self.kept = 0
        """Bytes of output written to the log (at most `cap`)."""
        self.closed: asyncio.Future[None] = loop.create_future()
        # Opened on the first byte: a silent command costs no file (nor directory).
        self._file: int | None = None
        self.write_error: str | None = None
        self._watched = False
        os.set_blocking(read_fd, False)

    def watch(self) -> None:
        """Drain the pipe from the event loop as output arrives."""
        if not self._watched and not self.closed.done():
            self._watched = True
            self.loop.add_reader(self.fd, self._on_readable)

    def read_available(self) -> bool:
        """Read what the pipe holds now; True once it reached EOF (and is closed).

        Bounded: a writer that keeps the pipe full is left to the event loop.
        """
        for _ in range(2 * PIPE_SIZE // READ_CHUNK + 1):
            if self.closed.done() or not self._read_once():
                break
        return self.closed.done()

    def pipe_inode(self) -> int | None:
        """The pipe's inode (None once closed): identifies who else holds it."""
        try:
            return os.fstat(self.fd).st_ino if not self.closed.done() else None
        except OSError:
            return None

    @property
    def omitted(self) -> int:
        """Bytes dropped past the cap."""
        return self.size - self.kept

    def _write(self, data: bytes | memoryview) -> int:
        """Append to the log; the bytes written (0 once writing failed, e.g. disk full)."""
        if self.write_error is not None:
            return 0
        view = memoryview(data)
        try:
            if self._file is None:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                self._file = os.open(self.path, flags, 0o600)
            while view:
                view = view[os.write(self._file, view) :]
        except OSError as exc:
            self.write_error = exc.strerror or type(exc).__name__
        return len(data) - len(view)

    def _on_readable(self) -> None:
        self._read_once()

    def _read_once(self) -> bool:
        """One read into the log; False when the pipe had nothing to give right now."""
        try:
            data = os.read(self.fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        if not data:
            self.close()
            return True
        room = self.cap - self.kept
        self.size += len(data)
        if room > 0:
            part = data if len(data) <= room else memoryview(data)[:room]
            self.kept += self._write(part)
            if len(data) > room:
                self._write(
                    f"\n[hive: log cap of {self.cap} bytes reached; further output "
                    "is counted but not kept]\n".encode()
                )
        return True

    def close(self) -> None:
        """Stop reading; note omitted bytes at the end of the log; close both ends."""
        if self.closed.done():
            return
        if self._watched:
            self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        try:
            if self.omitted and self.write_error is None:
                self._write(f"[hive: {self.omitted} bytes omitted past the log cap]\n".encode())
        finally:
            if self._file is not None:
                os.close(self._file)
            self.closed.set_result(None)


def output_pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # a bigger pipe means fewer wake-ups; optional
        fcntl.fcntl(r, _F_SETPIPE_SZ, PIPE_SIZE)
    return r, w
