"""Hostile workspace archives are refused and nothing lands outside the repo dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hive.sandbox.workruns import archive
from hive.sandbox.workruns.errors import ArchiveRejected
from tests.sandbox.workruns.archives import hostile, member, tar_gz, zeros_bomb

SMALL = archive.ArchiveLimits(max_total_bytes=1 << 20, max_file_bytes=1 << 20, max_files=50)


def _files(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(d, f), root)
        for d, dirs, files in os.walk(root)
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]
    }


@pytest.mark.parametrize("name", sorted(hostile()))
def test_hostile_archive_is_rejected_and_writes_nothing_outside(name: str, tmp_path: Path) -> None:
    dest = tmp_path / "tasks" / "t" / "repo"
    (tmp_path / "outside").mkdir()
    with pytest.raises(ArchiveRejected):
        archive.extract(hostile()[name], dest, SMALL)
    outside = _files(tmp_path) - {f for f in _files(tmp_path) if f.startswith("tasks/t/repo/")}
    assert outside == set()
    assert not Path("/tmp/hive-evil-absolute.txt").exists()


def test_size_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    bomb = zeros_bomb(8 << 20)  # 8 MiB of zeros, a few KiB compressed
    assert len(bomb) < 64 * 1024
    with pytest.raises(ArchiveRejected, match="bytes"):
        archive.extract(bomb, tmp_path / "repo", SMALL)
    written = sum(p.stat().st_size for p in (tmp_path / "repo").rglob("*") if p.is_file())
    assert written <= SMALL.max_total_bytes


def test_file_count_bomb(tmp_path: Path) -> None:
    many = tar_gz(member(f"f{i}.txt", b"x") for i in range(SMALL.max_files + 1))
    with pytest.raises(ArchiveRejected, match="members"):
        archive.extract(many, tmp_path / "repo", SMALL)


def test_benign_archive_keeps_inner_links_and_modes(tmp_path: Path) -> None:
    import tarfile

    data = tar_gz(
        [
            member("src/", type=tarfile.DIRTYPE, mode=0o755),
            member("src/main.py", b"print('hi')\n"),
            member("run.sh", b"#!/bin/sh\n", mode=0o755),
            member("docs/readme", linkname="../src/main.py", type=tarfile.SYMTYPE),
            member("copy.py", type=tarfile.LNKTYPE, linkname="src/main.py"),
        ]
    )
    out = archive.extract(data, tmp_path / "repo", SMALL)
    repo = tmp_path / "repo"
    assert out.file_count == 3
    assert (repo / "docs" / "readme").read_text() == "print('hi')\n"
    assert os.readlink(repo / "docs" / "readme") == "../src/main.py"
    assert (
        not (repo / "copy.py").is_symlink() and (repo / "copy.py").read_bytes() == b"print('hi')\n"
    )
    assert os.access(repo / "run.sh", os.X_OK)
