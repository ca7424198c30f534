"""Pool selection in the composition root: HIVE_POOL_BACKEND=container needs
HIVE_CONTAINER_RUNTIME_BACKEND, and a bad value stops the gateway with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.gateway_server import GatewayServer, base_env


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"HIVE_POOL_BACKEND": "container"},
            "HIVE_CONTAINER_RUNTIME_BACKEND is required with HIVE_POOL_BACKEND=container",
        ),
        (
            {"HIVE_POOL_BACKEND": "container", "HIVE_CONTAINER_RUNTIME_BACKEND": "docker"},
            "HIVE_CONTAINER_RUNTIME_BACKEND must be local_subprocess or kubernetes",
        ),
        ({"HIVE_POOL_BACKEND": "cloud"}, "HIVE_POOL_BACKEND must be local or container"),
    ],
)
def test_a_container_pool_without_its_runtime_backend_refuses_to_start(
    database_url: str, tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    code, output = GatewayServer.run_once({**base_env(database_url, tmp_path, "http://x"), **extra})
    assert code != 0, output  # granian exits 1 when its worker refuses
    assert f"hive gateway: refusing to start: {message}" in output
