"""Landlock rulesets built from Python (ctypes syscalls), applied by `hive-confine`.

Landlock is the kernel's unprivileged sandbox: a process restricts itself, and
every process it starts, to the filesystem paths, TCP ports and scopes a ruleset
allows. The rules are built here (one policy, testable in Python) and handed to
the launcher as file descriptors; a ruleset fd can be applied any number of
times, so the expensive ones (the TCP port allowlist) are built once.

What each ABI adds (the kernel reports the highest it speaks):
1 filesystem; 2 REFER (renames across dirs); 3 TRUNCATE; 4 TCP bind/connect;
5 IOCTL_DEV; 6 scoped signals and abstract unix sockets; 7 audit logging.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SYS_CREATE_RULESET: Final = 444
SYS_ADD_RULE: Final = 445
CREATE_RULESET_VERSION: Final = 1

RULE_PATH_BENEATH: Final = 1
RULE_NET_PORT: Final = 2

# Filesystem access rights (LANDLOCK_ACCESS_FS_*).
FS_EXECUTE: Final = 1 << 0
FS_WRITE_FILE: Final = 1 << 1
FS_READ_FILE: Final = 1 << 2
FS_READ_DIR: Final = 1 << 3
FS_TRUNCATE: Final = 1 << 14
FS_IOCTL_DEV: Final = 1 << 15
# Rights that apply to a file (a rule on a non-directory may grant only these).
FS_FILE_RIGHTS: Final = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
FS_READ_ONLY: Final = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

NET_BIND_TCP: Final = 1 << 0
NET_CONNECT_TCP: Final = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET: Final = 1 << 0
SCOPE_SIGNAL: Final = 1 << 1


def fs_rights(abi: int) -> int:
    """Every filesystem right the kernel's ABI knows (all of them are handled)."""
    if abi >= 5:
        return (1 << 16) - 1
    if abi >= 3:
        return (1 << 15) - 1
    if abi >= 2:
        return (1 << 14) - 1
    return (1 << 13) - 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def abi_version() -> int:
    """The Landlock ABI the kernel speaks; 0 when Landlock is absent or disabled."""
    result = _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    if result < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EOPNOTSUPP):
            return 0
        raise OSError(err, f"landlock_create_ruleset(version): {os.strerror(err)}")
    return int(result)


@dataclass(frozen=True, slots=True)
class PathRule:
    """`access` granted beneath `path` (a directory) or on it (a file)."""

    path: Path
    access: int


class Ruleset:
    """An open Landlock ruleset (its fd is what the launcher applies)."""

    def __init__(self, *, fs: int = 0, net: int = 0, scoped: int = 0) -> None:
        attr = _RulesetAttr(fs, net, scoped)
        # A kernel that knows fewer fields accepts the larger struct when the
        # fields it does not know are zero (the caller passes only what it speaks).
        size = ctypes.sizeof(_RulesetAttr)
        self.fd: int = _check(
            _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
            "landlock_create_ruleset",
        )
        self.handled_fs = fs

    def allow_path(self, rule: PathRule) -> bool:
        """Add one path rule; False when the path does not exist (nothing to grant)."""
        try:
            fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return False
        try:
            access = rule.access & self.handled_fs
            if not os.path.isdir(f"/proc/self/fd/{fd}"):
                access &= FS_FILE_RIGHTS
            attr = _PathBeneathAttr(access, fd)
            _check(
                _syscall(SYS_ADD_RULE, self.fd, RULE_PATH_BENEATH, ctypes.byref(attr), 0),
                f"landlock_add_rule({rule.path})",
            )
        finally:
            os.close(fd)
        return True

    def allow_ports(self, ports: Iterable[int], access: int) -> None:
        """Allow `access` (bind/connect) on each TCP port."""
        for port in ports:
            attr = _NetPortAttr(access, port)
            _check(
                _syscall(SYS_ADD_RULE, self.fd, RULE_NET_PORT, ctypes.byref(attr), 0),
                f"landlock_add_rule(port {port})",
            )

    def close(self) -> None:
        """Release the fd (the launcher got its own copy at spawn)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
