"""The sandbox's on-disk layout under HIVE_SANDBOX_ROOT.

    <root>/tasks/<task_id>/{repo,artifacts,logs,scratch}
    <root>/commands/<command_id>/{stdout.log,stderr.log,home,tmp,work}

Ids become path components, so they are validated here (one rule for every
caller) before any path is built: a bad id can never name `..`, a separator or
an absolute path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# Letters, digits, `_`, `.`, `-`; starts with a letter or digit; at most 128.
SAFE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class InvalidId(ValueError):
    """A task or command id that is not safe as a path component."""


def check_id(kind: str, value: str) -> str:
    """Return `value` if it is a safe id, else raise InvalidId."""
    if not SAFE_ID.fullmatch(value) or ".." in value:
        raise InvalidId(f"{kind} must match {SAFE_ID.pattern} (no '..'), got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class TaskDirs:
    """The directories of one task."""

    root: Path
    repo: Path
    artifacts: Path
    logs: Path
    scratch: Path

    @property
    def git_trusted(self) -> Path:
        """The task repo's `.git` files as the seed wrote them (beside repo/, not in it)."""
        return self.root / "git-trusted"

    @property
    def home(self) -> Path:
        """HOME of the task's governed subprocesses (inside scratch)."""
        return self.scratch / "home"

    @property
    def tmp(self) -> Path:
        """TMPDIR of the task's governed subprocesses (inside scratch)."""
        return self.scratch / "tmp"


@dataclass(frozen=True, slots=True)
class CommandDirs:
    """The directory of one command: its logs, and HOME/TMPDIR/work dir when task-less."""

    root: Path

    @property
    def stdout(self) -> Path:
        """The stdout log."""
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        """The stderr log."""
        return self.root / "stderr.log"

    def log(self, stream: str) -> Path:
        """The log of `stream` ("stdout" or "stderr")."""
        return self.root / f"{stream}.log"

    @property
    def home(self) -> Path:
        """HOME of a task-less command."""
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        """TMPDIR of a task-less command."""
        return self.root / "tmp"

    @property
    def work(self) -> Path:
        """Default cwd of a task-less command."""
        return self.root / "work"


class SandboxStorage:
    """Paths of tasks and commands under one root (created on demand, mode 0700)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self.tasks_root = self.root / "tasks"
        self.commands_root = self.root / "commands"

    def ensure(self) -> None:
        """Create the root, tasks and commands directories."""
        for d in (self.root, self.tasks_root, self.commands_root):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def task_path(self, task_id: str) -> Path:
        """`<root>/tasks/<task_id>` without creating anything."""
        return self.tasks_root / check_id("task_id", task_id)

    def task_dirs(self, task_id: str, *, create: bool = True) -> TaskDirs:
        """The task's directories (created unless `create=False`)."""
        root = self.task_path(task_id)
        dirs = TaskDirs(
            root=root,
            repo=root / "repo",
            artifacts=root / "artifacts",
            logs=root / "logs",
            scratch=root / "scratch",
        )
        if create:
            for d in (dirs.repo, dirs.artifacts, dirs.logs, dirs.home, dirs.tmp):
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return dirs

    def command_dir(self, command_id: str, *, create: bool = True) -> CommandDirs:
        """The command's directory (created unless `create=False`)."""
        dirs = CommandDirs(self.commands_root / check_id("command_id", command_id))
        if create:
            dirs.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return dirs

    @staticmethod
    def contains(base: Path, path: Path) -> bool:
        """True when the real `path` lies inside the real `base` (symlinks resolved)."""
        real_base = os.path.realpath(base)
        real = os.path.realpath(path)
        return real == real_base or real.startswith(real_base.rstrip(os.sep) + os.sep)
