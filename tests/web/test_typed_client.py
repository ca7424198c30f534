"""The dashboard's typed client is generated from the gateway's OpenAPI and must be current.

`web/openapi/gateway.json` is what `hive.gateway.main:app` serves at /schema, and
`web/lib/api/schema.d.ts` is openapi-typescript's output for it; both are committed.
A gateway route or body change without regenerating fails here. To regenerate:

    uv run python web/scripts/gateway_openapi.py > web/openapi/gateway.json
    (cd web && npm run api:generate)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.dashboard_server import WEB
from tests.web.conftest import node_tool, run_node

REGENERATE = (
    "regenerate: uv run python web/scripts/gateway_openapi.py > web/openapi/gateway.json "
    "&& (cd web && npm run api:generate)"
)


def test_committed_openapi_document_matches_the_gateway() -> None:
    dumped = subprocess.run(
        [sys.executable, str(WEB / "scripts" / "gateway_openapi.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (WEB / "openapi" / "gateway.json").read_text()
    assert dumped == committed, f"web/openapi/gateway.json is stale; {REGENERATE}"


def test_committed_client_types_match_the_openapi_document(tmp_path: Path) -> None:
    out = tmp_path / "schema.d.ts"
    proc = run_node(
        [str(node_tool("openapi-typescript")), "openapi/gateway.json", "-o", str(out)],
        timeout_s=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = (WEB / "lib" / "api" / "schema.d.ts").read_text()
    assert out.read_text() == committed, f"web/lib/api/schema.d.ts is stale; {REGENERATE}"
