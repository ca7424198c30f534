"""Seeding is git-aware and exact; apply-back without a visible target goes to the relay."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hive.contracts.api import CreateDevTask, WorkspaceSpec
from hive.events import EventStore, create_pool
from hive.sandbox.storage import SandboxStorage
from hive.sandbox.workruns import git_repo
from hive.sandbox.workruns.apply_back import ApplyBack
from hive.sandbox.workruns.archive import ArchiveLimits
from hive.sandbox.workruns.seed import seed_repo
from hive.sandbox.workruns.service import BackendCatalog, WorkRuns
from hive.sandbox.workruns.worker import Worker
from tests.sandbox.workruns.archives import b64, member, tar_gz
from tests.sandbox.workruns.domain import git_repo_with, plan
from tests.support.sandbox_server import free_port


async def test_requested_path_seed_is_git_aware(tmp_path: Path) -> None:
    src = git_repo_with(
        tmp_path / "src",
        {".gitignore": "build/\n*.log\n", "app.py": "v1\n", "pkg/mod.py": "m\n"},
    )
    (src / "app.py").write_text("v2 uncommitted\n")
    (src / "new_untracked.py").write_text("u\n")
    (src / "build").mkdir()
    (src / "build" / "out.bin").write_text("ignored")
    (src / "debug.log").write_text("ignored")
    (src / "link.py").symlink_to("app.py")
    (src / "escape").symlink_to("/etc/passwd")
    repo = tmp_path / "repo"
    seeded = await seed_repo(repo, requested_path=src, archive_bytes=None, limits=ArchiveLimits())
    files = sorted(
        str(p.relative_to(repo)) for p in repo.rglob("*") if ".git" not in p.relative_to(repo).parts
        and (p.is_file() or p.is_symlink())
    )  # fmt: skip
    assert files == [".gitignore", "app.py", "link.py", "new_untracked.py", "pkg/mod.py"]
    assert (repo / "app.py").read_text() == "v2 uncommitted\n"
    assert seeded.source == "requested_path" and seeded.file_count == 4
    # The baseline holds exactly the seed: a fresh diff is empty.
    patch = await git_repo.diff_against(repo, seeded.baseline_commit)
    assert patch.diff == b"" and patch.files_changed == 0
    # The seed tarball round-trips through the hostile-input extractor.
    again = tmp_path / "again"
    reseeded = await seed_repo(
        again, requested_path=None, archive_bytes=seeded.tarball, limits=ArchiveLimits()
    )
    assert (again / "app.py").read_text() == "v2 uncommitted\n"
    assert reseeded.file_count == seeded.file_count


@pytest.fixture
async def private_pool(workrun_db: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this module's own database (the worker claims any pending attempt)."""
    pool = await create_pool(workrun_db, max_size=4)
    yield pool
    await pool.close()


async def test_unreachable_relay_is_apply_failed_and_manifest_hides_credentials(
    private_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    pool = private_pool
    port = free_port()  # nothing listens there: the relay is unreachable
    relay = f"http://user:pw@127.0.0.1:{port}/apply?sig=abc"
    service = WorkRuns(
        store=EventStore(pool),
        storage=SandboxStorage(tmp_path / "sandbox"),
        backends=BackendCatalog(types.SimpleNamespace()),
        apply_back=ApplyBack(relay_url=relay, relay_token="relay-token-canary"),
        default_backend="deterministic_proof",
        lease_ttl_s=30,
    )
    created = await service.create(
        CreateDevTask(
            project_id="relay",
            instructions=plan({"write": {"path": "f.txt", "content": "new\n"}}),
            workspace=WorkspaceSpec(
                requested_path="/nonexistent/operator/workspace",
                archive_b64=b64(tar_gz([member("f.txt", b"old\n")])),
            ),
        )
    )
    manifest = created.workspace_manifest
    assert manifest is not None
    assert manifest.apply_back_mode == "relay" and manifest.apply_relay_token_configured
    assert manifest.apply_relay_url == f"http://127.0.0.1:{port}/apply"  # no credentials
    assert "relay-token-canary" not in repr(manifest) and "pw" not in repr(manifest)
    worker = Worker(service, owner="relay-test")
    lease = None
    deadline = asyncio.get_running_loop().time() + 10
    while lease is None or lease.task_id != created.task_id:
        lease = await service.leases.claim(worker.owner, 30)
        assert asyncio.get_running_loop().time() < deadline
    await worker.run_claimed(lease)
    status = await service.approve(created.task_id)
    assert status.state == "apply_failed"
    assert status.reason is not None and "apply relay unreachable" in status.reason
    evs = await service.events(created.task_id)
    failed = evs[-1].payload
    assert failed["mode"] == "relay" and failed["target"] == f"http://127.0.0.1:{port}/apply"
