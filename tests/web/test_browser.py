"""The dashboard end to end in headless Chromium (Debian's `chromium` via playwright-core).

web/e2e/workrun.e2e.mjs drives the browser; this module starts the real stack for it and
checks what only the server side can see (the approved patch in the workspace).
Screenshots land in web/e2e-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.dashboard_server import WEB, DashboardServer
from tests.support.gateway_server import GatewayServer
from tests.web.conftest import login, run_node, workspace

ARTIFACTS = WEB / "e2e-artifacts"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert os.access(path, os.X_OK), f"{path} missing: scripts/install-tools.sh installs chromium"
    return path


def _run(scenario: str, dashboard: DashboardServer, gateway: GatewayServer, ws: Path) -> None:
    proc = run_node(
        ["node", "e2e/workrun.e2e.mjs"],
        env={
            "DASHBOARD_URL": dashboard.url,
            "HIVE_ADMIN_PASSWORD": gateway.admin_password,
            "WORKSPACE_PATH": str(ws),
            "ARTIFACT_DIR": str(ARTIFACTS),
            "CHROMIUM": chromium_path(),
            "E2E_SCENARIO": scenario,
        },
        timeout_s=280,
    )
    print(proc.stdout)
    assert proc.returncode == 0, (
        f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}\ndashboard log:\n{dashboard.read_log(4000)}"
    )


@pytest.mark.timeout(300)
def test_work_run_reviewed_in_the_browser(
    dashboard: DashboardServer, web_gateway: GatewayServer, tmp_path: Path
) -> None:
    ws = workspace(tmp_path / "ws")
    _run("mouse", dashboard, web_gateway, ws)
    # Approved in the browser, applied to the project's workspace by the sandbox.
    assert (ws / "README.md").read_text() == "hello\nworld\n"
    assert (ws / "hello.txt").exists()
    assert (ARTIFACTS / "mouse-06-applied.png").stat().st_size > 0


@pytest.mark.timeout(300)
def test_work_run_reviewed_with_the_keyboard_only(
    dashboard: DashboardServer, web_gateway: GatewayServer, tmp_path: Path
) -> None:
    ws = workspace(tmp_path / "ws")
    # The project exists already; the keyboard pass opens the newest one with j/k + Enter.
    client = login(dashboard.url, web_gateway.admin_password)
    r = client.post(
        "/api/projects", json={"name": f"kb-{tmp_path.name}", "workspace_path": str(ws)}
    )
    assert r.status_code == 201, r.text
    _run("keyboard", dashboard, web_gateway, ws)
    assert (ws / "README.md").read_text() == "hello\nworld\n"
