"""`hive demo` drives one deterministic Work Run end to end against a real sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.workruns.runs import start_sandbox


@pytest.mark.slow
def test_hive_demo_runs_and_applies(workrun_db: str, tmp_path: Path) -> None:
    server = start_sandbox(workrun_db, tmp_path / "sandbox")
    try:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "HIVE_DATA_DIR": str(tmp_path / "data"),
            "HIVE_SANDBOX_URL": server.url,
            "HIVE_INTERNAL_SECRET": server.secret,
        }
        done = subprocess.run(
            [sys.executable, "-m", "hive.cli.main", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for event in ("DevTaskCreated", "AttemptStarted", "CheckpointRecorded", "PatchProposed",
                  "TaskApproved", "PatchApplied"):  # fmt: skip
        assert event in out
    assert "state: applied" in out
    (workspace,) = (tmp_path / "data" / "workspace" / "demo").iterdir()
    assert (workspace / "hello.py").read_text() == "print('hello from a Work Run')\n"
    assert "Patched by a Work Run." in (workspace / "README.md").read_text()
