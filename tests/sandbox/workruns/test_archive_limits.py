"""One set of body and archive limits: an archive within HIVE_SANDBOX_ARCHIVE_MAX_COMPRESSED_BYTES
is accepted end to end even when its create body is far past the 10 MiB every other route
takes; one past it is refused with a clear 4xx, never a 5xx."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.workruns.archives import b64, member, tar_gz
from tests.sandbox.workruns.runs import start_sandbox
from tests.support.sandbox_server import SandboxServer

LIMIT = 16 * 1024 * 1024
EMPTY_PLAN = '{"steps": []}'  # a valid deterministic_proof plan (invalid ones are 422 at create)


@pytest.fixture(scope="module")
def server(workrun_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    srv = start_sandbox(
        workrun_db,
        tmp_path_factory.mktemp("archive-limits") / "sandbox",
        HIVE_SANDBOX_WORKER="false",
        HIVE_SANDBOX_ARCHIVE_MAX_COMPRESSED_BYTES=str(LIMIT),
        HIVE_SANDBOX_ARCHIVE_MAX_BYTES=str(4 * LIMIT),
    )
    yield srv
    srv.stop()


def _archive(size: int) -> str:
    # Random bytes do not compress: the gzip is about as large as the file.
    return b64(tar_gz([member("blob.bin", os.urandom(size))]))


def test_an_archive_within_the_limit_is_accepted_past_10_mib(server: SandboxServer) -> None:
    archive = _archive(LIMIT - (1 << 20))
    assert len(archive) > 10 * 1024 * 1024  # the body Litestar's default would refuse
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "big",
                "instructions": EMPTY_PLAN,
                "workspace": {"archive_b64": archive},
            },
        )
    assert r.status_code == 201, r.text[:300]
    seeded = Path(r.json()["workspace_manifest"]["repo_path"]) / "blob.bin"
    assert seeded.stat().st_size == LIMIT - (1 << 20)


def test_an_archive_past_the_limit_is_refused_clearly(server: SandboxServer) -> None:
    with server.client() as http:
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "big",
                "instructions": EMPTY_PLAN,
                "workspace": {"archive_b64": _archive(LIMIT + (1 << 20))},
            },
        )
    assert r.status_code in (413, 422), r.text[:300]
    assert r.json()["code"] in ("payload_too_large", "archive_rejected"), r.text[:300]
