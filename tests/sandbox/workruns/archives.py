"""Building gzip tar archives (benign and hostile) for Work Run seeding tests."""

from __future__ import annotations

import base64
import io
import tarfile
from collections.abc import Iterable


def member(name: str, data: bytes = b"", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    """A tar member; attrs set type/linkname/size/devmajor..."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for k, v in attrs.items():
        setattr(info, k, v)
    return info, data


def tar_gz(members: Iterable[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A gzip tar of the members, written as given (no sanitising)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def b64(data: bytes) -> str:
    """base64 text of bytes."""
    return base64.b64encode(data).decode()


def zeros_bomb(size: int, name: str = "bomb.bin") -> bytes:
    """A tiny gzip tar holding one file of `size` zero bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = size

        class Zeros(io.RawIOBase):
            left = size

            def readable(self) -> bool:
                return True

            def readinto(self, b: memoryview) -> int:  # type: ignore[override]
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros()))
    return buf.getvalue()


def hostile() -> dict[str, bytes]:
    """Every hostile archive the extractor must refuse, by name."""
    sym = {"type": tarfile.SYMTYPE}
    return {
        "zip-slip": tar_gz([member("ok.txt", b"ok"), member("../../evil.txt", b"pwned")]),
        "absolute": tar_gz([member("/tmp/hive-evil-absolute.txt", b"pwned")]),
        "nested-dotdot": tar_gz([member("a/b/../../../evil.txt", b"pwned")]),
        "symlink-absolute": tar_gz([member("link", linkname="/etc", **sym)]),
        "symlink-escape": tar_gz([member("link", linkname="../../..", **sym)]),
        "symlink-then-write": tar_gz(
            [member("link", linkname="../outside", **sym), member("link/evil.txt", b"pwned")]
        ),
        "link-through-link": tar_gz(
            [member("here", linkname=".", **sym), member("up", linkname="here/..", **sym)]
        ),
        "hardlink-outside": tar_gz([member("hard", type=tarfile.LNKTYPE, linkname="/etc/passwd")]),
        "char-device": tar_gz([member("dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)]),
        "fifo": tar_gz([member("pipe", type=tarfile.FIFOTYPE)]),
        "git-internals": tar_gz([member(".git/hooks/post-checkout", b"#!/bin/sh\necho pwned")]),
        "not-gzip": b"this is not a tar archive at all",
    }
