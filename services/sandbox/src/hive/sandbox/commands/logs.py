"""Reading command logs: head-and-tail previews and ranged reads, never whole files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

RANGE_CHUNK: Final = 256 * 1024
MAX_RANGE: Final = 64 * 1024 * 1024
DEFAULT_RANGE: Final = 1024 * 1024


def log_size(path: Path) -> int:
    """Current size of a log file (0 when it does not exist, e.g. on another replica)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _trim_end(data: bytes) -> bytes:
    """Drop a UTF-8 sequence cut in half at the end."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b < 0x80:
            return data
        if b >= 0xC0:  # a lead byte: complete only if its sequence fits
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return data if need == back else data[:-back]
    return data


def _trim_start(data: bytes) -> bytes:
    """Drop continuation bytes of a UTF-8 sequence cut in half at the start."""
    i = 0
    while i < min(3, len(data)) and 0x80 <= data[i] < 0xC0:
        i += 1
    return data[i:]


def preview(path: Path, budget: int, url: str) -> tuple[str, int, int]:
    """(text, bytes shown, log size): the whole log if it fits, else its head and tail."""
    size = log_size(path)
    if size == 0:
        return "", 0, 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return "", 0, size
    try:
        if size <= budget:
            data = os.pread(fd, size, 0)
            return data.decode("utf-8", "replace"), len(data), size
        half = budget // 2
        head = _trim_end(os.pread(fd, half, 0))
        tail = _trim_start(os.pread(fd, half, size - half))
    finally:
        os.close(fd)
    hidden = size - len(head) - len(tail)
    text = (
        head.decode("utf-8", "replace")
        + f"\n[... {hidden} bytes not shown; full log: GET {url} ...]\n"
        + tail.decode("utf-8", "replace")
    )
    return text, len(head) + len(tail), size


def read_range(path: Path, offset: int, limit: int) -> tuple[int, int, Iterator[bytes]]:
    """(log size, next offset, chunks) of bytes [offset, offset+limit) of the log."""
    size = log_size(path)
    start = min(max(offset, 0), size)
    end = min(size, start + max(0, min(limit, MAX_RANGE)))

    def chunks() -> Iterator[bytes]:
        if end <= start:
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            pos = start
            while pos < end:
                data = os.pread(fd, min(RANGE_CHUNK, end - pos), pos)
                if not data:
                    return
                pos += len(data)
                yield data
        finally:
            os.close(fd)

    return size, end, chunks()
