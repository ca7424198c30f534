"""Building the Work Run domain in-process for tests (no HTTP, no background worker)."""

from __future__ import annotations

import json
import subprocess
import types
from pathlib import Path
from typing import Any

import asyncpg

from hive.events import EventStore
from hive.sandbox.storage import SandboxStorage
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.service import BackendCatalog, WorkRuns


def build_service(pool: asyncpg.Pool, root: Path, *, lease_ttl_s: float = 2.0) -> WorkRuns:
    """WorkRuns on `pool` with task storage under `root`, deterministic backend by default."""
    return WorkRuns(
        store=EventStore(pool),
        storage=SandboxStorage(root),
        backends=BackendCatalog(types.SimpleNamespace()),
        apply_back=ApplyBack(relay_url=None, relay_token=None),
        default_backend="deterministic_proof",
        lease_ttl_s=lease_ttl_s,
    )


def plan(*steps: dict[str, Any]) -> str:
    """deterministic_proof instructions."""
    return json.dumps({"steps": list(steps)})


def git_repo_with(path: Path, files: dict[str, str]) -> Path:
    """A real git repo on disk with one commit of `files`."""
    path.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(content)
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
        cwd=path,
        check=True,
        env=env,
    )
    return path
