"""The trust boundary when everything runs as one ordinary user (as `make dev` does for most
operators): the sandbox and its governed processes share a uid, so file modes and uid checks
protect nothing between them; Landlock and non-dumpable services must hold alone.

As root (CI), the test creates an unprivileged user and starts the sandbox as that user.
The interpreter lives under /root (mode 0700) on these machines, so the user is given
traverse-only access to /root through a POSIX ACL for the duration of the test. Run as an
unprivileged user already, the sandbox simply runs as that user.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.workruns.domain import plan
from tests.sandbox.workruns.runs import in_state, wait_status
from tests.support.escape_probe import probe_source
from tests.support.sandbox_server import SandboxServer

USER = "hive-unpriv-test"
ACL = "system.posix_acl_access"
REPO = Path(__file__).resolve().parents[3]


def _acl_traverse_for(uid: int) -> bytes:
    """A POSIX ACL (kernel xattr format): owner rwx, `uid` x, group/other nothing."""
    entries = [(0x01, 7, 0xFFFFFFFF), (0x02, 1, uid), (0x04, 0, 0xFFFFFFFF),
               (0x10, 1, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]  # fmt: skip
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[tuple[int, int] | None]:
    """(uid, gid) to run the sandbox as, or None when the tests already run unprivileged."""
    if os.geteuid() != 0:
        yield None
        return
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
        entry = pwd.getpwnam(USER)
    home = Path("/root")
    mode = home.stat().st_mode & 0o7777
    try:
        saved: bytes | None = os.getxattr(home, ACL)
    except OSError:
        saved = None
    if not mode & 0o001:  # the toolchain under /root must be reachable by the user
        os.setxattr(home, ACL, _acl_traverse_for(entry.pw_uid))
    try:
        yield entry.pw_uid, entry.pw_gid
    finally:
        if saved is not None:
            os.setxattr(home, ACL, saved)
        elif not mode & 0o001:
            os.removexattr(home, ACL)
        os.chmod(home, mode)


@pytest.fixture(scope="module")
def server(
    workrun_db: str,
    tmp_path_factory: pytest.TempPathFactory,
    unprivileged: tuple[int, int] | None,
) -> Iterator[SandboxServer]:
    # Not under pytest's own tmp dir: its parents are 0700 root, untraversable by the user.
    base = Path(tempfile.mkdtemp(prefix="hive-unpriv-"))
    root = base / "sandbox"
    root.mkdir()
    launcher: tuple[str, ...] = ()
    if unprivileged is not None:
        uid, gid = unprivileged
        os.chown(base, uid, gid)
        os.chown(root, uid, gid)
        launcher = ("setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--")
    srv = SandboxServer.start(
        workrun_db,
        root=root,
        env={
            "HIVE_SANDBOX_WORKER": "true",
            "HIVE_SANDBOX_CODING_BACKEND": "deterministic_proof",
            "HIVE_SANDBOX_REQUIRE_CONFINEMENT": "true",
            "HOME": str(base),
        },
        launcher=launcher,
    )
    yield srv
    srv.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_one_user_for_everything_still_confines(server: SandboxServer, server_url: str) -> None:
    worker = server.worker_pid()
    expected_uid = pwd.getpwnam(USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    with open(f"/proc/{worker}/status") as fh:
        uids = next(line for line in fh if line.startswith("Uid:")).split()[1:]
    assert {int(u) for u in uids} == {expected_uid}, uids
    with server.client() as http:
        assert http.get("/healthz").json()["confinement"]["in_force"] is True
        task_root = server.root / "tasks"
        targets = {
            "files": [str(REPO / ".hive" / "secrets.json"), str(server.log_path)],
            "dirs": [str(REPO / ".hive"), str(task_root)],
            "tcp": [["127.0.0.1", server.port, "the sandbox"]],
            # Same uid as the sandbox: only Landlock's scope stops the signal.
            "signal": [server.proc.pid, worker],
        }
        r = http.post(
            "/dev-tasks",
            json={
                "project_id": "one-user",
                "instructions": plan(
                    {"write": {"path": "probe.py", "content": probe_source(targets)}},
                    {"run": {"argv": ["python3", "probe.py"]}},
                ),
            },
        )
        assert r.status_code == 201, r.text
        task = r.json()["task_id"]
        done = wait_status(http, task, in_state("awaiting_review", "failed"), timeout_s=90)
        assert done["state"] == "awaiting_review", done
    report = json.loads((task_root / task / "repo" / "probe-report.json").read_text())
    assert report["own_work"] is True and report["launcher"] is True
    assert report["leaks"] == [], report["leaks"]
    assert any("signal" in b for b in report["blocked"]), report["blocked"]
