"""Every git call has a time limit: past it git and its children are killed, and the
attempt or the apply-back fails saying so.

A repository can stall git with a filter driver (`filter.<name>.clean` in its
config, `* filter=<name>` in .gitattributes): git runs it through `sh -c` for
every file it reads. These tests plant one that sleeps and records its pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hive.contracts.api import CreateDevTask
from hive.events import create_pool
from hive.sandbox.workruns import git_repo
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.worker import Worker
from tests.sandbox.workruns.domain import build_service, git_repo_with, plan

GIT_ENV = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def plant_slow_filter(repo: Path, pidfile: Path) -> None:
    """Make every git read of a file in `repo` run `sleep 60` (its pid lands in `pidfile`)."""
    subprocess.run(
        ["git", "config", "filter.slow.clean", f"echo $$ > {pidfile}; exec sleep 60"],
        cwd=repo,
        check=True,
        env=GIT_ENV,
    )
    subprocess.run(
        ["git", "config", "filter.slow.smudge", f"echo $$ > {pidfile}; exec sleep 60"],
        cwd=repo,
        check=True,
        env=GIT_ENV,
    )
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* filter=slow\n")


def assert_gone(pidfile: Path, timeout_s: float = 10.0) -> None:
    """The filter process recorded in `pidfile` ran and no longer exists."""
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"git's filter child {pid} outlived the timeout"
        time.sleep(0.05)


async def test_a_git_call_past_its_limit_is_killed_with_its_children(tmp_path: Path) -> None:
    repo = git_repo_with(tmp_path / "repo", {"a.txt": "a\n"})
    baseline = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    (repo / "a.txt").write_text("changed\n")
    plant_slow_filter(repo, tmp_path / "filter.pid")
    with pytest.raises(git_repo.GitTimeout) as caught:
        await git_repo.diff_against(repo, baseline, timeout_s=1)
    assert "timed out after 1 s" in caught.value.stderr
    assert_gone(tmp_path / "filter.pid")


@pytest.fixture
async def private_pool(workrun_db: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this module's own database (the worker claims any pending attempt)."""
    pool = await create_pool(workrun_db, max_size=4)
    yield pool
    await pool.close()


async def test_a_stalled_patch_computation_fails_the_attempt(
    private_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    service = build_service(private_pool, tmp_path / "sandbox", lease_ttl_s=30)
    service.git_timeout_s = 1
    created = await service.create(
        CreateDevTask(
            project_id="git-timeouts",
            instructions=plan({"write": {"path": "out.txt", "content": "new\n"}}),
        )
    )
    dirs = service.storage.task_dirs(created.task_id, create=False)
    plant_slow_filter(dirs.repo, tmp_path / "filter.pid")
    # The worker's git puts back the seeded .git files (test_git_config_injection), so
    # a driver an attempt writes never runs; here the pinned config itself stalls git.
    shutil.copyfile(dirs.repo / ".git" / "config", dirs.git_trusted / "config")
    (dirs.repo / ".gitattributes").write_text("* filter=slow\n")
    worker = Worker(service, owner="git-timeouts")
    lease = await service.leases.claim(worker.owner, 30)
    assert lease is not None and lease.task_id == created.task_id
    await asyncio.wait_for(worker.run_claimed(lease), 30)
    status = await service.status(created.task_id)
    assert status.state == "failed"
    assert (
        status.reason == "could not compute the patch: git add timed out after 1 s and was killed"
    )
    assert_gone(tmp_path / "filter.pid")


async def test_a_stalled_apply_back_is_apply_failed(tmp_path: Path) -> None:
    target = git_repo_with(tmp_path / "target", {"a.txt": "a\n"})
    diff = b"diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n"
    plant_slow_filter(target, tmp_path / "filter.pid")
    apply_back = ApplyBack(relay_url=None, relay_token=None, git_timeout_s=1)
    outcome = await apply_back.apply(
        task_id="t", project_id="p", requested_path=str(target), baseline_commit=None, diff=diff
    )
    assert outcome.mode == "direct"
    assert outcome.error is not None and "timed out after 1 s" in outcome.error
    assert (target / "a.txt").read_text() == "a\n"  # killed during the check: untouched
    assert_gone(tmp_path / "filter.pid")
