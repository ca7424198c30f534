"""Hostile-input-safe extraction of a workspace archive (base64 gzip tar).

The archive comes from outside, so it is treated as an attack until proven
otherwise. Extraction writes only into a fresh directory the caller owns and
refuses, before writing anything for that member:

- absolute names, `..` components, names that normalise to nothing;
- device files, FIFOs and anything that is not a file, directory or link;
- symlinks and hardlinks whose target leaves the repo (checked lexically
  against the link's own directory, so no filesystem lookups can be tricked);
- more than `max_files` members, any file over `max_file_bytes`, or more than
  `max_total_bytes` in total - counted on the *decompressed* stream, so a
  gzip bomb stops at the limit instead of filling the disk.

Links are created last, after every regular file and directory: while files
are written no symlink exists yet, so no write can be redirected through one.
Every open goes through directory fds opened with O_NOFOLLOW, and a link
target may not pass *through* another link of the archive (`b -> .` plus
`a -> b/..` would otherwise escape while looking lexically harmless). The
caller deletes the whole directory on ArchiveRejected.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import io
import os
import posixpath
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hive.sandbox.workruns.errors import ArchiveRejected

_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Bounds on one workspace archive."""

    max_compressed_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024
    max_file_bytes: int = 128 * 1024 * 1024
    max_files: int = 50_000

    @property
    def max_request_bytes(self) -> int:
        """The largest create body an archive within these limits can need: its base64
        text plus 1 MiB for the rest of the JSON (POST /dev-tasks accepts this much)."""
        return -(-self.max_compressed_bytes * 4 // 3) + (1 << 20)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What landed in the repo directory."""

    file_count: int
    size_bytes: int


class _Bounded(io.RawIOBase):
    """A reader that refuses to deliver more than `limit` decompressed bytes."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise ArchiveRejected(f"archive expands past {self.limit} bytes")
        buffer[: len(data)] = data
        return len(data)


def decode_b64(archive_b64: str, limits: ArchiveLimits) -> bytes:
    """The raw archive bytes, or ArchiveRejected."""
    if len(archive_b64) > limits.max_compressed_bytes * 4 // 3 + 8:
        raise ArchiveRejected(f"archive larger than {limits.max_compressed_bytes} bytes")
    try:
        return base64.b64decode(archive_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ArchiveRejected("archive_b64 is not valid base64") from exc


def safe_member_name(name: str) -> str:
    """The normalised relative path of a member, or ArchiveRejected."""
    if "\x00" in name or "\\" in name:
        raise ArchiveRejected(f"member {name!r}: illegal character")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRejected(f"member {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveRejected(f"member {name!r}: '..' in path")
    if not parts:
        raise ArchiveRejected(f"member {name!r}: empty path")
    if ".git" in parts:
        # At any depth: a nested repo's config could name programs git would run.
        raise ArchiveRejected(f"member {name!r}: .git internals are not accepted")
    return "/".join(parts)


def link_target_inside(link_name: str, target: str) -> str:
    """The repo-relative path a symlink points at, or ArchiveRejected if it escapes."""
    if not target or target.startswith("/") or "\x00" in target:
        raise ArchiveRejected(f"link {link_name!r} -> {target!r}: absolute or empty target")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(link_name), target))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        raise ArchiveRejected(f"link {link_name!r} -> {target!r}: escapes the repo")
    return joined


def _check_no_link_through_link(symlinks: list[tuple[str, str]]) -> None:
    names = {name for name, _ in symlinks}
    for name, target in symlinks:
        parts = posixpath.dirname(name).split("/") if posixpath.dirname(name) else []
        raw = [p for p in target.split("/") if p not in ("", ".")]
        for i, part in enumerate(raw):
            if part == "..":
                if not parts:
                    raise ArchiveRejected(f"link {name!r} -> {target!r}: escapes the repo")
                parts.pop()
                continue
            parts.append(part)
            if i < len(raw) - 1 and "/".join(parts) in names:
                raise ArchiveRejected(f"link {name!r} -> {target!r}: resolves through another link")


def extract(raw: bytes, dest: Path, limits: ArchiveLimits) -> Extracted:
    """Extract a gzip tar into the empty directory `dest` (created when missing)."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ArchiveRejected("the repo directory is not empty")
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    files = 0
    total = 0
    symlinks: list[tuple[str, str]] = []
    hardlinks: list[tuple[str, str]] = []
    regular: set[str] = set()
    bounded = _Bounded(
        gzip.GzipFile(fileobj=io.BytesIO(raw)),
        limits.max_total_bytes + 64 * limits.max_files + (1 << 20),
    )
    try:
        with tarfile.open(fileobj=io.BufferedReader(bounded), mode="r|") as tar:
            for member in tar:
                files += 1
                if files > limits.max_files:
                    raise ArchiveRejected(f"archive holds more than {limits.max_files} members")
                name = safe_member_name(member.name)
                if member.isdir():
                    _mkdirs(dest_fd, name)
                elif member.isreg():
                    if member.size > limits.max_file_bytes:
                        raise ArchiveRejected(
                            f"member {name!r}: {member.size} bytes, limit {limits.max_file_bytes}"
                        )
                    total += member.size
                    if total > limits.max_total_bytes:
                        raise ArchiveRejected(
                            f"archive expands past {limits.max_total_bytes} bytes"
                        )
                    source = tar.extractfile(member)
                    assert source is not None
                    _write_file(dest_fd, name, source, member.size, member.mode & 0o100 != 0)
                    regular.add(name)
                elif member.issym():
                    link_target_inside(name, member.linkname)
                    symlinks.append((name, member.linkname))
                elif member.islnk():
                    hardlinks.append((name, safe_member_name(member.linkname)))
                else:
                    raise ArchiveRejected(f"member {name!r}: device, FIFO or other special file")
        for name, target in hardlinks:
            if target not in regular:
                raise ArchiveRejected(f"hardlink {name!r} -> {target!r}: not a file in the archive")
            # A copy, not a link: a hardlink could alias a file a later step edits.
            with _open_read(dest_fd, target) as src:
                size = os.fstat(src.fileno()).st_size
                _write_file(dest_fd, name, src, size, False)
            regular.add(name)
        _check_no_link_through_link(symlinks)
        for name, target in symlinks:
            _mkdirs(dest_fd, posixpath.dirname(name))
            parent_fd = _open_dir(dest_fd, posixpath.dirname(name))
            try:
                os.symlink(target, posixpath.basename(name), dir_fd=parent_fd)
            except FileExistsError as exc:
                raise ArchiveRejected(f"link {name!r}: path already exists") from exc
            finally:
                os.close(parent_fd)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveRejected(f"not a readable gzip tar: {type(exc).__name__}") from exc
    except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
        raise ArchiveRejected(f"conflicting member paths: {exc.strerror}") from exc
    finally:
        os.close(dest_fd)
    return Extracted(file_count=len(regular), size_bytes=total)


def _open_dir(dest_fd: int, rel: str) -> int:
    """Open a directory under dest without following any symlink on the way."""
    fd = os.dup(dest_fd)
    for part in [p for p in rel.split("/") if p]:
        try:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nxt
    return fd


def _mkdirs(dest_fd: int, rel: str) -> None:
    fd = os.dup(dest_fd)
    try:
        for part in [p for p in rel.split("/") if p]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
    except OSError as exc:
        if isinstance(exc, NotADirectoryError | FileExistsError):
            raise
        raise ArchiveRejected(f"cannot create directory {rel!r}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _write_file(dest_fd: int, rel: str, source: IO[bytes], size: int, executable: bool) -> None:
    parent, base = posixpath.split(rel)
    _mkdirs(dest_fd, parent)
    parent_fd = _open_dir(dest_fd, parent)
    try:
        fd = os.open(
            base,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
            0o755 if executable else 0o644,
            dir_fd=parent_fd,
        )
    finally:
        os.close(parent_fd)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            written += len(chunk)
            if written > size:
                raise ArchiveRejected(f"member {rel!r}: more data than its header says")
            out.write(chunk)


def _open_read(dest_fd: int, rel: str) -> IO[bytes]:
    parent, base = posixpath.split(rel)
    parent_fd = _open_dir(dest_fd, parent)
    try:
        fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)
    return os.fdopen(fd, "rb")
