"""The rules every git call OpenHive makes runs under, on any service.

git reads code-running settings from places a repository or a machine controls:
system and global config, system attributes, replace refs, hooks, fsmonitor, a
pager, transports. OpenHive runs git on trees that model-written code or an
operator wrote, so each call gets an environment built from nothing (no inherited
secrets, no config outside the repo, no pager, no replace objects) and the
repo-local features that could run code switched off on the command line, where
the repository's own config cannot switch them back on. Services add what is
theirs (an identity for commits, `safe.directory`, explicit GIT_DIR) on top.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

SAFE_CONFIG: Final[tuple[str, ...]] = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "core.pager=cat",
    # No fetch of any kind (a promisor remote could name an `ext::` command).
    "-c",
    "protocol.allow=never",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
)
"""`-c` options before the verb of every git call."""

DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"


def hardened_env(*, path: str | None = None, ceiling: Path | None = None) -> dict[str, str]:
    """The whole environment of a git call (`ceiling`: GIT_CEILING_DIRECTORIES)."""
    env = {
        "PATH": path or os.environ.get("PATH", DEFAULT_PATH),
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    return env
