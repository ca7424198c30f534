"""A task repo's git config cannot make the sandbox's own git run a program.

git is an allowlisted governed command, so an attempt can write `.git/config`
(`git config filter.x.clean ...`) and name that driver from `.gitattributes`.
The worker then runs `git add`/`git diff` on the repo to compute the patch,
outside the governed-command policy; these plans plant such a program (it
creates a marker file outside the repo) and check that it never runs while the
patch is still computed from the honest write that follows.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive.sandbox.workruns import git_repo
from hive.sandbox.workruns.archive import ArchiveLimits
from hive.sandbox.workruns.seed import seed_repo
from tests.sandbox.workruns.domain import plan
from tests.sandbox.workruns.runs import in_state, start_sandbox, wait_status
from tests.support.sandbox_server import SandboxServer


@pytest.fixture(scope="module")
def server(workrun_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """One sandbox with the worker on, private to this module's database."""
    srv = start_sandbox(workrun_db, tmp_path_factory.mktemp("wr-gitcfg") / "sandbox")
    yield srv
    srv.stop()


def _git_config(key: str, value: str) -> dict[str, object]:
    return {"run": {"argv": ["git", "config", key, value]}}


def _attributes(line: str) -> dict[str, object]:
    return {"write": {"path": ".gitattributes", "content": line + "\n"}}


VARIANTS = {
    "filter": lambda marker: [
        _git_config("filter.evil.clean", f"touch {marker}; cat"),
        _git_config("filter.evil.smudge", f"touch {marker}; cat"),
        _git_config("filter.evil.process", f"touch {marker}"),
        _attributes("* filter=evil"),
    ],
    "fsmonitor": lambda marker: [
        _git_config("core.fsmonitor", f"touch {marker}; true"),
        _git_config("core.untrackedCache", "true"),
    ],
    "textconv": lambda marker: [
        _git_config("diff.evil.textconv", f"touch {marker}; cat"),
        _git_config("diff.external", f"touch {marker}; true"),
        _attributes("* diff=evil"),
    ],
    "include": lambda marker: [
        # An included file is read like .git/config itself; the driver lives there.
        {
            "write": {
                "path": "evil.cfg",
                "content": f'[filter "evil"]\n\tclean = touch {marker}; cat\n',
            }
        },
        _git_config("include.path", "../evil.cfg"),
        _attributes("* filter=evil"),
    ],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_repo_config_never_runs_a_program_in_the_workers_git(
    server: SandboxServer, tmp_path: Path, variant: str
) -> None:
    marker = tmp_path / f"pwned-{variant}"
    steps = plan(*VARIANTS[variant](marker), {"write": {"path": "honest.txt", "content": "ok\n"}})
    with server.client() as http:
        r = http.post("/dev-tasks", json={"project_id": "git-config", "instructions": steps})
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]
        done = wait_status(http, task_id, in_state("awaiting_review", "failed"))
        assert not marker.exists(), f"the worker's git ran the repo's {variant} program"
        assert done["state"] == "awaiting_review", done["reason"]
        patch = http.get(f"/dev-tasks/{task_id}/patch")
        assert patch.status_code == 200, patch.text
    assert b"+ok" in patch.content and b"honest.txt" in patch.content
    assert "restored the seeded .git state" in str(done["attempts"][-1]["reason"])
    assert "config" in str(done["attempts"][-1]["reason"])
    # The attributes the attempt wrote are ordinary content and stay in the patch.
    assert (b".gitattributes" in patch.content) == (variant != "fsmonitor")


async def test_restore_puts_back_the_seeded_git_files_and_drops_foreign_ones(
    tmp_path: Path,
) -> None:
    repo, trusted = tmp_path / "repo", tmp_path / "git-trusted"
    seeded = await seed_repo(
        repo, requested_path=None, archive_bytes=None, limits=ArchiveLimits(), trusted=trusted
    )
    git_dir = repo / ".git"
    config = (git_dir / "config").read_bytes()
    assert list((git_dir / "hooks").iterdir()) == []
    assert git_repo.restore_trusted(repo, trusted) == []  # untouched: nothing to repair

    marker = tmp_path / "pwned"
    (git_dir / "config").write_text(f'[filter "evil"]\n\tclean = touch {marker}; cat\n')
    (git_dir / "info" / "attributes").write_text("* filter=evil\n")
    (git_dir / "hooks" / "pre-commit").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (git_dir / "commondir").write_text(str(tmp_path / "elsewhere"))
    (repo / "a.txt").write_text("a\n")
    patch = await git_repo.diff_against(repo, seeded.baseline_commit, trusted=trusted)
    assert not marker.exists()
    assert patch.paths == ["a.txt"]
    assert set(patch.repaired) == {"config", "info/attributes", "hooks/pre-commit", "commondir"}
    assert (git_dir / "config").read_bytes() == config
    assert not (git_dir / "info" / "attributes").exists()

    # A .git replaced by a gitfile would send git to a repository (and config) elsewhere.
    shutil.rmtree(git_dir)
    git_dir.write_text(f"gitdir: {tmp_path / 'elsewhere'}\n")
    with pytest.raises(git_repo.UntrustedRepo):
        await git_repo.diff_against(repo, seeded.baseline_commit, trusted=trusted)
