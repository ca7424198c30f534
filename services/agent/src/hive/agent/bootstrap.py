"""Config bootstrap: bundled defaults copied into HIVE_WORKSPACE, never over an edit.

The defaults ship read-only with the package (`services/agent/defaults`, in
the image `/app/defaults/agent`); nothing is ever written there. A file that
already exists in the workspace is left alone whatever its content: that is
the operator's copy. Like `cp -R -n`, but in-process for the pools that have
no init container.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULTS_ENV = "HIVE_AGENT_DEFAULTS_DIR"


def defaults_dir() -> Path:
    """Where the bundled defaults are (env override, the image path, else the source tree)."""
    override = os.environ.get(DEFAULTS_ENV)
    if override:
        return Path(override)
    image = Path("/app/defaults/agent")
    if image.is_dir():
        return image
    return Path(__file__).resolve().parents[3] / "defaults"


def bootstrap(workspace: Path, source: Path | None = None) -> list[str]:
    """Copy missing default files into `workspace`; the relative paths copied."""
    source = source or defaults_dir()
    copied: list[str] = []
    if not source.is_dir():
        return copied
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(source)
        target = workspace / rel
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: a file created between the check and here is the operator's; keep it.
            with path.open("rb") as src, open(target, "xb") as dst:
                shutil.copyfileobj(src, dst)
        except FileExistsError:
            continue
        copied.append(str(rel))
    return copied
