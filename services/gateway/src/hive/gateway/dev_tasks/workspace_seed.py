"""Seeding a dev task: the sandbox reads the project path itself, or gets an archive.

When gateway and sandbox share a filesystem (`hive dev`, one host), the
sandbox copies `requested_path` itself. When they do not (Kubernetes: separate
pods, no shared volume), the gateway packs the project's workspace into
`archive_b64` (base64 of a gzip tar) for the create call.

`HIVE_SANDBOX_WORKSPACE_VISIBILITY` decides: `shared`, `separate`, or `auto`
(the default), which assumes a shared filesystem exactly when the sandbox URL
points at a loopback address, i.e. the same machine. The requested path is
sent either way, so apply-back after approval still targets it.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import os
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

# Version-control internals are the sandbox's own business: it takes its own
# baseline commit of the seeded tree.
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})


class WorkspaceTooLarge(ValueError):
    """The workspace exceeds HIVE_SEED_ARCHIVE_MAX_BYTES."""


def sandbox_shares_filesystem(visibility: str, sandbox_url: str) -> bool:
    """True when the sandbox can read project paths directly."""
    if visibility == "shared":
        return True
    if visibility == "separate":
        return False
    host = urlsplit(sandbox_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def archive_b64(root: Path, max_bytes: int) -> str | None:
    """base64(gzip tar) of the directory `root`, or None when it does not exist.

    Symlinks are stored as links (never followed), so nothing outside `root`
    is read. Raises WorkspaceTooLarge past `max_bytes` of file content.
    """
    if not root.is_dir():
        return None
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                path = Path(dirpath, name)
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                if info.isreg():
                    total += info.size
                    if total > max_bytes:
                        raise WorkspaceTooLarge(f"workspace exceeds {max_bytes} bytes")
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                elif info.issym() or info.isdir():
                    tar.addfile(info)
    return base64.b64encode(buf.getvalue()).decode()
