"""Shells and launchers: recognising a program that would run arbitrary others.

By name (a version suffix stripped: `bash5.2` is bash), by identity and content
of the installed shells (a renamed copy is still a shell), by the interpreter
of a `#!` script, and inside the argv of allowlisted tools that launch another
program (`uv run`, `uvx`, `npx`, `npm exec`, `find -exec`, git's program flags).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from hive.contracts.errors import ErrorCode
from hive.sandbox.commands.errors import PolicyViolation

SHELLS: Final = frozenset(
    {
        "sh", "ash", "dash", "bash", "rbash", "zsh", "ksh", "mksh", "pdksh", "oksh", "yash",
        "fish", "csh", "tcsh", "busybox", "toybox", "nu", "xonsh", "elvish", "pwsh",
        "powershell", "rc", "es", "scsh",
    }
)  # fmt: skip
# Programs whose job is to run another, arbitrary program (or to give a terminal).
LAUNCHERS: Final = frozenset(
    {
        "env", "sudo", "su", "doas", "pkexec", "runuser", "setpriv", "capsh", "sg", "newgrp",
        "login", "xargs", "parallel", "nohup", "nice", "ionice", "chrt", "taskset", "timeout",
        "stdbuf", "setsid", "chroot", "unshare", "nsenter", "prlimit", "flock", "time",
        "watch", "script", "expect", "strace", "ltrace", "gdb", "valgrind", "catchsegv",
        "eatmydata", "fakeroot", "firejail", "bwrap", "proot", "systemd-run",
        "start-stop-daemon", "daemonize", "chpst", "ssh", "rsh", "telnet", "socat", "nc",
        "ncat", "netcat", "screen", "tmux", "at", "batch", "crontab", "exec", "eval",
        "command", "builtin", "xterm",
    }
)  # fmt: skip
_VERSION_SUFFIX = re.compile(r"[-.]?\d+(\.\d+)*$")
_SHELL_DIRS: Final = ("/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin")


def program_names(path_or_name: str) -> frozenset[str]:
    """The basename, and the basename without a version suffix (python3.11 -> python)."""
    if len(path_or_name) <= _CACHED_NAME_LEN:
        return _cached_program_names(path_or_name)
    return _program_names(path_or_name)


def _program_names(path_or_name: str) -> frozenset[str]:
    base = os.path.basename(path_or_name)
    if (short := _VERSION_SUFFIX.sub("", base)) and short != base:
        return frozenset((base, short))
    return frozenset((base,))


# Every request asks about the same few program names several times over; long
# strings (an argument can be 128 KiB) are not worth keeping.
_CACHED_NAME_LEN: Final = 256
_cached_program_names = functools.lru_cache(maxsize=1024)(_program_names)


def is_shell_name(path_or_name: str) -> bool:
    return bool(program_names(path_or_name) & SHELLS)


def is_launcher_name(path_or_name: str) -> bool:
    return bool(program_names(path_or_name) & LAUNCHERS)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class KnownShells:
    """Identity (device, inode) and content (size -> sha256) of the installed shells."""

    inodes: set[tuple[int, int]] = field(default_factory=set)
    hashes_by_size: dict[int, set[str]] = field(default_factory=dict)

    @classmethod
    def discover(cls, search_path: str) -> KnownShells:
        known = cls()
        dirs = [*search_path.split(os.pathsep), *_SHELL_DIRS]
        seen: set[str] = set()
        for d in dirs:
            for name in SHELLS:
                candidate = os.path.join(d, name)
                real = os.path.realpath(candidate)
                if real in seen or not os.path.isfile(real):
                    continue
                seen.add(real)
                st = os.stat(real)
                known.inodes.add((st.st_dev, st.st_ino))
                try:
                    known.hashes_by_size.setdefault(st.st_size, set()).add(_sha256(real))
                except OSError:
                    continue
        return known

    def matches(self, real: str, st: os.stat_result) -> bool:
        if (st.st_dev, st.st_ino) in self.inodes:
            return True
        hashes = self.hashes_by_size.get(st.st_size)
        return hashes is not None and _sha256(real) in hashes


def shebang_interpreters(path: str) -> list[str]:
    """The interpreter of a `#!` script, and the program `env` would run, if any."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return []
    if not head.startswith(b"#!"):
        return []
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if not words:
        return []
    out = [words[0]]
    if program_names(words[0]) & {"env"}:
        out += [w for w in words[1:] if not w.startswith("-") and "=" not in w][:1]
    return out


def shell_rejected(what: str) -> PolicyViolation:
    """The refusal of a shell, or of a launcher of arbitrary programs."""
    return PolicyViolation(
        ErrorCode.SHELL_ENTRYPOINT_REJECTED,
        f"{what}: shells and launchers of arbitrary programs are not governed commands",
    )


def check_launched(argv: Sequence[str]) -> None:
    """Programs started by allowlisted launchers must not be shells either."""
    names = program_names(argv[0])
    launched: list[str] = []
    if names & {"uv"} and len(argv) > 1:
        rest = list(argv[1:])
        if rest[:1] == ["run"]:
            launched += _first_positional(rest[1:], _UV_RUN_VALUE_FLAGS)
        elif rest[:2] == ["tool", "run"]:
            launched += _first_positional(rest[2:], _UV_RUN_VALUE_FLAGS)
    elif names & {"uvx", "npx"}:
        launched += _first_positional(argv[1:], _UV_RUN_VALUE_FLAGS)
    elif names & {"npm", "pnpm"} and len(argv) > 2 and argv[1] in ("exec", "x", "dlx"):
        launched += _first_positional(argv[2:], frozenset({"--package", "-p", "-c"}))
        if "-c" in argv or any(a.startswith("--call") for a in argv):
            raise shell_rejected("npm exec -c runs a shell command string")
    elif names & {"find"}:
        for i, a in enumerate(argv):
            if a in ("-exec", "-execdir", "-ok", "-okdir") and i + 1 < len(argv):
                launched.append(argv[i + 1])
    elif names & {"git"}:
        for a in argv[1:]:
            if a.startswith(("--exec-path", "--upload-pack", "--receive-pack")):
                raise shell_rejected(f"git {a.split('=')[0]} runs another program")
    for prog in launched:
        if is_shell_name(prog) or is_launcher_name(prog):
            raise shell_rejected(f"{argv[0]} would launch {prog!r}")


_UV_RUN_VALUE_FLAGS: Final = frozenset(
    {
        "--with", "--with-editable", "--with-requirements", "--from", "--python", "-p",
        "--package", "--directory", "--project", "--env-file", "--extra", "--group",
        "--index", "--default-index", "--index-url", "-i", "--extra-index-url",
        "--find-links", "-f", "--module", "-m", "--script", "-s",
        "--registry", "--cache", "--userconfig",
    }
)  # fmt: skip


def _first_positional(args: Sequence[str], value_flags: frozenset[str]) -> list[str]:
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--":
            continue
        if a.startswith("-"):
            skip = a in value_flags
            continue
        return [a]
    return []
