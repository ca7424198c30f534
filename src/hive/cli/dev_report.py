"""What `hive dev` tells the operator, and what it records for other commands.

Every component gets one line with its state and URL, the dashboard included
when it is not built (with how to build it); the coding backends get one line
each, usable or with the settings that would enable them. `dev.json` in the
data dir records the running instance (URLs, pid; never a secret) so
`hive demo` and scripts find it wherever it was started.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RECORD = "dev.json"
WIDTH = 10


def line(name: str, url: str, state: str) -> str:
    """One component: name, URL, state."""
    return f"{name:<{WIDTH}} {url:<28} {state}"


def dashboard_state(repo_root: Path, *, disabled: bool) -> str | None:
    """Why the dashboard is not running, with how to change that; None when it is built."""
    if disabled:
        return "off (--no-dashboard)"
    if (repo_root / "web" / ".next" / "standalone" / "server.js").exists():
        return None
    if (repo_root / "web" / "package.json").exists():
        return (
            "not built: build it with `npm --prefix web ci && npm --prefix web run build`, "
            "then restart `make dev`"
        )
    return "not built: this checkout has no dashboard yet (web/); use the API below"


def relay_configured(environ: Mapping[str, str]) -> bool:
    """Whether the gateway `hive dev` starts has a model provider for its relay."""
    try:
        providers = json.loads(environ.get("HIVE_MODEL_PROVIDERS") or "[]")
    except ValueError:
        return False
    return isinstance(providers, list) and len(providers) > 0


def backend_lines(health: Mapping[str, Any], *, relay: bool) -> list[str]:
    """One line per coding backend from the sandbox's /healthz, the default marked."""
    backends = health.get("backends") or {}
    default = health.get("coding_backend")
    out = []
    for name, verdict in backends.items():
        label = f"{name}{' (default)' if name == default else ''}"
        if not verdict.get("usable"):
            state = f"not usable: {verdict.get('reason')}. To enable: {verdict.get('enable')}"
        elif verdict.get("model_access") == "gateway_relay" and not relay:
            state = (
                "not usable: the gateway has no model provider. To enable: set "
                "HIVE_MODEL_PROVIDERS (JSON list of {id, base_url, api_key_env, models})"
            )
        else:
            state = "usable"
        out.append(f"{'backend':<{WIDTH}} {label:<28} {state}")
    return out


def write_record(data: Path, values: Mapping[str, Any]) -> Path:
    """`<data>/dev.json`: how to reach this `hive dev` (mode 0600, replaced atomically)."""
    path = data / RECORD
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({**values, "pid": os.getpid(), "started_at": time.time()}, fh, indent=2)
    os.replace(tmp, path)
    return path


def remove_record(data: Path) -> None:
    """Forget the record when this `hive dev` stops (only if it is still ours)."""
    path = data / RECORD
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def read_record(data: Path) -> dict[str, Any] | None:
    """The record of a `hive dev` whose process still runs, else None."""
    try:
        doc = json.loads((data / RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int):
        return None
    try:
        os.kill(doc["pid"], 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return doc
