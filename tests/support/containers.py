"""Role images run with podman for the container contract tests.

`build_images()` runs `scripts/images.sh` (podman's layer cache makes an unchanged
build quick) and returns each role's image id: tests run ids, never tags, so another
checkout rebuilding `openhive/<role>:0.1.0` on a shared machine cannot swap them.
`RoleContainer.run()` starts one container the way its Kubernetes manifest would
(the manifest's command, a read-only root, the manifest's writable mounts as
tmpfs owned by the container's user like an fsGroup emptyDir, its port published on 127.0.0.1) and cleans up on
`remove()`; every container a test started is removed at the end of the session.

Podman's settings for this host come from infra/podman/containers.conf.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from tests.support.service_process import free_port

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "infra" / "podman" / "containers.conf"
IMAGES_DIR = REPO / ".tools" / "images"
POD_UID = 10001  # runAsUser / runAsGroup / fsGroup of every manifest
DB_SOCKET_DIR = "/run/hive-db"  # where a container sees the test database's socket


class PodmanMissing(RuntimeError):
    """podman is not installed: `make test-tools` installs it."""


def podman_env() -> dict[str, str]:
    """The environment every podman call gets (this project's containers.conf)."""
    import os

    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str, check: bool = True, timeout_s: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS`; raise with its output when it fails and `check` is set."""
    binary = shutil.which("podman")
    if binary is None:
        raise PodmanMissing("podman not found: run `make test-tools` (scripts/install-tools.sh)")
    done = subprocess.run(
        [binary, *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        input=input,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def build_images(roles: Sequence[str], timeout_s: float = 3600) -> dict[str, str]:
    """`scripts/images.sh ROLES`; each role's image id."""
    if shutil.which("podman") is None:
        raise PodmanMissing("podman not found: run `make test-tools` (scripts/install-tools.sh)")
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "images.sh"), *roles],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"scripts/images.sh failed:\n{done.stdout[-5000:]}{done.stderr[-10000:]}"
        )
    return {role: (IMAGES_DIR / f"{role}.iid").read_text().strip() for role in roles}


class DatabaseRelay:
    """The test database as a unix socket a container can mount (its DSN inside, too).

    The test PostgreSQL listens on loopback TCP, which a container on podman's bridge
    network cannot reach (and should not: its own loopback is its own). This relays
    each connection made to a socket file to that TCP address, so a container gets
    the socket alone, read-only, and PostgreSQL's own protocol end to end.
    """

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        if not parts.hostname:
            raise AssertionError(f"expected a TCP DSN for the test database, got {dsn!r}")
        self._parts = parts
        self._dir = Path(tempfile.mkdtemp(prefix="hive-db-"))  # short: sun_path is 108 bytes
        self.socket = self._dir / ".s.PGSQL.5432"
        target = (parts.hostname, parts.port or 5432)

        class Pump(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection(target, timeout=10) as upstream:
                    upstream.settimeout(None)
                    _pump(self.request, upstream)

        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket), Pump)
        self._server.daemon_threads = True
        self.socket.chmod(0o777)  # the container's user connects; the directory stays 0700
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def container_dsn(self) -> str:
        """The same database, user and password, through the mounted socket."""
        parts = self._parts
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        query = parse_qs(parts.query)
        query["host"] = [DB_SOCKET_DIR]
        return urlunsplit((parts.scheme, credentials, parts.path, urlencode(query, doseq=True), ""))

    def close(self) -> None:
        """Stop relaying and remove the socket."""
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {a: b, b: a}
    while True:
        ready, _, _ = select.select(list(peers), [], [])
        for src in ready:
            data = src.recv(65536)
            if not data:
                return
            peers[src].sendall(data)


@dataclass
class RoleContainer:
    """One running container of a role image."""

    name: str
    port: int  # the host port published to the role's container port
    writable: tuple[str, ...]
    started: ClassVar[list[str]] = []

    @classmethod
    def run(
        cls,
        image: str,
        *,
        command: Sequence[str],
        container_port: int | None = None,
        writable: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        database: DatabaseRelay | None = None,
        binds: Mapping[Path, str] | None = None,
        read_only: bool = True,
    ) -> RoleContainer:
        """Start it detached, as its manifest runs it."""
        name = f"openhive-test-{uuid.uuid4().hex[:12]}"
        argv = ["run", "-d", "--name", name, "--entrypoint", json.dumps(list(command))]
        if read_only:
            # Kubernetes' readOnlyRootFilesystem: no tmpfs on /tmp, /run, /var/tmp either.
            argv += ["--read-only", "--read-only-tmpfs=false"]
        for path in writable:
            # Owned by the container's user, as fsGroup makes an emptyDir the pod's (podman
            # 4.3 ignores a tmpfs mode and keeps the image directory's root ownership).
            argv += ["--mount", f"type=tmpfs,destination={path},chown=true"]
        port = 0
        if container_port is not None:
            port = free_port()
            argv += ["-p", f"127.0.0.1:{port}:{container_port}"]
        if database is not None:
            # The socket alone, read-only: connecting needs no write access to the mount.
            sock = database.socket
            argv += ["-v", f"{sock}:{DB_SOCKET_DIR}/{sock.name}:ro"]
            env = {**(env or {}), "DATABASE_URL": database.container_dsn}
        for key, value in (env or {}).items():
            argv += ["-e", f"{key}={value}"]
        for host, inside in (binds or {}).items():
            argv += ["-v", f"{host}:{inside}"]
        cls.started.append(name)
        podman(*argv, image)
        return cls(name, port, tuple(writable))

    @classmethod
    def remove_leftovers(cls) -> list[str]:
        """Remove every container a test started (running or not)."""
        left = list(cls.started)
        for name in left:
            podman("rm", "-f", "-t", "0", name, check=False)
        cls.started.clear()
        return left

    @property
    def url(self) -> str:
        """Base URL of the published port."""
        return f"http://127.0.0.1:{self.port}"

    def inspect(self) -> dict[str, Any]:
        """`podman inspect`, parsed."""
        (doc,) = json.loads(podman("inspect", self.name).stdout)
        return dict(doc)

    def running(self) -> bool:
        """Whether the container still runs."""
        return bool(self.inspect()["State"]["Running"])

    def wait_http(self, path: str, timeout_s: float = 90, status: int = 200) -> httpx.Response:
        """Poll `path` on the published port until it answers `status`."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                last = httpx.get(self.url + path, timeout=2)
                if last.status_code == status:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"{path} never answered {status} (last: {last}):\n{self.logs()}")

    def logs(self) -> str:
        """Everything the container wrote, both streams."""
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def stdout_lines(self) -> list[str]:
        """The lines the container wrote to stdout alone."""
        return [line for line in podman("logs", self.name).stdout.splitlines() if line.strip()]

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`podman exec` as the container's own user."""
        return podman("exec", self.name, *argv, check=check)

    def terminate(self, grace_s: float) -> dict[str, Any]:
        """SIGTERM and wait up to `grace_s` for the exit (no KILL); the final State."""
        podman("kill", "--signal", "TERM", self.name)
        deadline = time.monotonic() + grace_s
        while self.running():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} still runs {grace_s}s after SIGTERM")
            time.sleep(0.1)
        return dict(self.inspect()["State"])

    def changes(self) -> list[str]:
        """`podman diff`: what the container changed in its own root (mounts excluded)."""
        return [line for line in podman("diff", self.name).stdout.splitlines() if line.strip()]

    def remove(self) -> None:
        """Remove it, running or not."""
        podman("rm", "-f", "-t", "0", self.name, check=False)
        with contextlib.suppress(ValueError):
            RoleContainer.started.remove(self.name)


@dataclass
class WriteProbe:
    """Which of `paths` the container's user can create a file in (a Python one-liner)."""

    paths: list[str] = field(default_factory=list)

    SCRIPT: ClassVar[str] = (
        "import json,os,sys\n"
        "ok=[]\n"
        "for p in sys.argv[1:]:\n"
        "    f=os.path.join(p,'.openhive-write-probe')\n"
        "    try:\n"
        "        open(f,'w').close(); os.unlink(f); ok.append(p)\n"
        "    except OSError:\n"
        "        pass\n"
        "print(json.dumps(ok))\n"
    )

    def writable_in(self, container: RoleContainer) -> set[str]:
        """The subset of `paths` writable inside `container`."""
        done = container.exec("python3", "-c", self.SCRIPT, *self.paths)
        return set(json.loads(done.stdout))
