"""Fixtures of the sandbox tests: a real sandbox server (granian) on the session database.

`sandbox_server` is shared by a test module; tests that kill or reconfigure a
server start their own with `start_sandbox(...)` (see tests/support/sandbox_server.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.sandbox_server import SandboxServer


@pytest.fixture(scope="module")
def sandbox_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxServer]:
    """A running sandbox (internal secret `SECRET`, canary secrets in its env), one per module."""
    server = SandboxServer.start(database_url, root=tmp_path_factory.mktemp("sandbox") / "root")
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    """An authenticated httpx client on the module's sandbox."""
    with sandbox_server.client() as client:
        yield client


@pytest.fixture
def start_sandbox(database_url: str, tmp_path: Path) -> Iterator[Callable[..., SandboxServer]]:
    """Factory for a private sandbox server (killed at the end of the test): start_sandbox(env={...})."""
    started: list[SandboxServer] = []

    def start(*, env: dict[str, str] | None = None, root: Path | None = None) -> SandboxServer:
        server = SandboxServer.start(database_url, root=root or tmp_path / "root", env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
