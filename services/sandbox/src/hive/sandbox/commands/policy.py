"""What a governed command may be, decided before anything runs.

Order of checks (the first failure answers): argv shape -> shell or launcher
by name -> cwd -> package registries -> shells launched by launcher-like tools
(`uv run`, `uvx`, `npx`, `find -exec`) -> resolution of argv[0] (PATH lookup
or path, then realpath) -> shell by resolved path, by identity (same inode)
and by content (a renamed copy) -> shell scripts planted in writable places ->
the executable allowlist.

This is defense in depth, not the isolation boundary: allowlisted
interpreters (python3, node) can run anything they are told to. What the
policy guarantees is that the API itself is never a shell: no request names a
shell, hands one a command string, or overrides the child's environment.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hive.contracts.errors import ErrorCode
from hive.sandbox.commands.errors import PolicyViolation
from hive.sandbox.commands.registry import RegistryPolicy
from hive.sandbox.commands.shells import (
    KnownShells,
    check_launched,
    is_launcher_name,
    is_shell_name,
    program_names,
    shebang_interpreters,
    shell_rejected,
)

MAX_ARGS: Final = 4096
MAX_ARG_BYTES: Final = 128 * 1024  # Linux MAX_ARG_STRLEN
MAX_ARGV_BYTES: Final = 1024 * 1024


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _real_directory(path: Path) -> str | None:
    """The real path of `path` if it is a directory (every symlink resolved), else None.

    The kernel resolves it in one open(O_PATH) and names it in /proc/self/fd:
    three system calls where os.path.realpath lstat()s every component from
    Python, and the open also proves it is a directory.
    """
    try:
        fd = os.open(path, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = ""
    finally:
        os.close(fd)
    if real.startswith(os.sep) and not real.endswith(" (deleted)"):
        return real
    # No /proc, or an answer that is not a plain path (unreachable, deleted, or a
    # name that only looks deleted): resolve in userspace instead.
    real = os.path.realpath(path)
    return real if os.path.isdir(real) else None


_O_PATH: Final = getattr(os, "O_PATH", os.O_RDONLY)


@dataclass(frozen=True, slots=True)
class ResolvedCommand:
    """A request that passed the policy: the executable to run and the real cwd."""

    argv: list[str]
    executable: str
    cwd: Path


class CommandPolicy:
    """Allowlisted executables, rejected shells and launchers, allowlisted registries."""

    def __init__(
        self,
        command_allowlist: Iterable[str],
        registry_allowlist: Iterable[str],
        *,
        search_path: str,
        writable_roots: Sequence[Path] = (),
    ) -> None:
        command_allowlist = list(command_allowlist)
        self.allowlist = frozenset(n for n in command_allowlist if not os.path.isabs(n))
        self.search_path = search_path
        # World-writable places count as "anyone could have planted this".
        shared_tmp = [Path(p) for p in ("/tmp", "/var/tmp", "/dev/shm")]  # noqa: S108
        self.writable_roots = [Path(os.path.realpath(r)) for r in [*writable_roots, *shared_tmp]]
        allowed_paths = {n for n in command_allowlist if os.path.isabs(n)}
        for name in self.allowlist:
            if (found := shutil.which(name, path=search_path)) is not None:
                allowed_paths.add(found)
        self.allowed_reals = frozenset(os.path.realpath(p) for p in allowed_paths)
        self.registries = RegistryPolicy(registry_allowlist)
        self._shells: KnownShells | None = None
        # argv[0] name -> (path that passed, identity of the file it pointed at)
        self._verdicts: dict[str, tuple[str, tuple[int, int, int, int]]] = {}
        self._real_roots: dict[str, str] = {}

    @property
    def known_shells(self) -> KnownShells:
        """Installed shells, discovered on first use."""
        if self._shells is None:
            self._shells = KnownShells.discover(self.search_path)
        return self._shells

    # -- the checks -------------------------------------------------------------------------

    @staticmethod
    def check_argv(argv: object) -> list[str]:
        """A non-empty list of strings without NUL, bounded in count and length."""
        if not isinstance(argv, list) or not argv:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "argv must be a non-empty list")
        if len(argv) > MAX_ARGS:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"argv has more than {MAX_ARGS}")
        total = 0
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"argv[{i}] is not a string")
            if "\0" in arg:
                raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"argv[{i}] contains NUL")
            size = len(arg.encode("utf-8", "surrogateescape"))
            if size > MAX_ARG_BYTES:
                raise PolicyViolation(
                    ErrorCode.VALIDATION_FAILED, f"argv[{i}] is longer than {MAX_ARG_BYTES} bytes"
                )
            total += size
        if total > MAX_ARGV_BYTES:
            raise PolicyViolation(
                ErrorCode.VALIDATION_FAILED, f"argv is longer than {MAX_ARGV_BYTES} bytes"
            )
        if not argv[0]:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "argv[0] is empty")
        return list(argv)

    def check_cwd(self, cwd: str | None, *, default: Path, roots: Sequence[Path]) -> Path:
        """The real cwd (symlinks resolved); it must be a directory inside one of `roots`."""
        if cwd is not None and "\0" in cwd:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "cwd contains NUL")
        candidate = default if cwd in (None, "") else default / cwd  # absolute cwd replaces
        real_dir = _real_directory(candidate)
        real = real_dir if real_dir is not None else os.path.realpath(candidate)
        for root in roots:
            real_root = self._real_root(root)
            if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
                break
        else:
            raise PolicyViolation(
                ErrorCode.CWD_OUTSIDE_WORKSPACE,
                f"cwd {cwd!r} resolves outside the task workspace and the commands root",
            )
        if real_dir is None:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"cwd {cwd!r} is not a directory")
        return Path(real_dir)

    def _real_root(self, root: Path) -> str:
        """realpath of a workspace root, resolved once per root.

        Roots are directories the sandbox made itself. Keeping the first answer
        is also the stricter choice: a command that later swaps its task root for a
        symlink (to `/`, say) does not widen what counts as inside it.
        """
        key = str(root)
        real = self._real_roots.get(key)
        if real is None:
            if len(self._real_roots) >= 4096:
                self._real_roots.clear()
            real = self._real_roots[key] = os.path.realpath(root)
        return real

    def _resolve(self, arg0: str, cwd: Path) -> str | None:
        if "/" in arg0:
            p = arg0 if os.path.isabs(arg0) else os.path.join(cwd, arg0)
            return p if os.path.isfile(p) and os.access(p, os.X_OK) else None
        return shutil.which(arg0, path=self.search_path)

    def _in_writable_place(self, real: str) -> bool:
        if any(real.startswith(str(r) + os.sep) for r in self.writable_roots):
            return True
        if os.geteuid() == 0:  # root may write anywhere; only the known roots count then
            return False
        return os.access(real, os.W_OK) or os.access(os.path.dirname(real), os.W_OK)

    def check_executable(self, arg0: str, cwd: Path) -> str:
        """Resolve argv[0] and refuse shells, launchers and anything not allowlisted."""
        if is_shell_name(arg0) or is_launcher_name(arg0):
            raise shell_rejected(f"argv[0] {arg0!r}")
        if "/" not in arg0 and (hit := self._verdicts.get(arg0)) is not None:
            checked, identity = hit
            # One stat instead of a PATH walk and a realpath: the same file behind the
            # same path passed before. A file that newly appeared earlier on PATH is
            # not noticed until the entry changes, which is safe: what runs is
            # `found`, the path that was checked, never a fresh PATH lookup.
            try:
                if _identity(os.stat(checked)) == identity:
                    return checked
            except OSError:
                pass
            del self._verdicts[arg0]
        found = self._resolve(arg0, cwd)
        if found is None:
            if not (program_names(arg0) & self.allowlist):
                raise PolicyViolation(
                    ErrorCode.EXECUTABLE_NOT_ALLOWLISTED, f"{arg0!r} is not an allowlisted program"
                )
            raise PolicyViolation(
                ErrorCode.VALIDATION_FAILED, f"{arg0!r} was not found (PATH or path)"
            )
        real = os.path.realpath(found)
        if is_shell_name(real) or is_launcher_name(real):
            raise shell_rejected(f"argv[0] {arg0!r} resolves to {real}")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"{arg0!r}: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, f"{arg0!r} is not a regular file")
        if self.known_shells.matches(real, st):
            raise shell_rejected(f"argv[0] {arg0!r} is a shell binary under another name")
        if self._in_writable_place(real):
            # A script someone could have planted: refuse a shell interpreter behind it.
            for interp in shebang_interpreters(real):
                if is_shell_name(interp):
                    raise shell_rejected(f"argv[0] {arg0!r} is a {interp} script")
        if real in self.allowed_reals or program_names(real) & self.allowlist:
            if "/" not in arg0 and not self._in_writable_place(real):
                self._verdicts[arg0] = (found, _identity(st))
            return found
        raise PolicyViolation(
            ErrorCode.EXECUTABLE_NOT_ALLOWLISTED,
            f"{arg0!r} (resolved to {real}) is not an allowlisted program",
        )

    def check(
        self, argv: object, cwd: str | None, *, default_cwd: Path, roots: Sequence[Path]
    ) -> ResolvedCommand:
        """Every check, in order; the ResolvedCommand to run or a PolicyViolation."""
        args = self.check_argv(argv)
        if is_shell_name(args[0]) or is_launcher_name(args[0]):
            raise shell_rejected(f"argv[0] {args[0]!r}")
        real_cwd = self.check_cwd(cwd, default=default_cwd, roots=roots)
        # Registries before resolution: the answer to `npm --registry evil` must not
        # depend on whether npm happens to be installed.
        self.registries.check(args, real_cwd)
        check_launched(args)
        executable = self.check_executable(args[0], real_cwd)
        return ResolvedCommand(argv=args, executable=executable, cwd=real_cwd)
