"""What `hive dev` says about the dashboard and the backends, and the record it leaves."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hive.cli import dev_report


def test_the_dashboard_line_says_how_to_get_one(tmp_path: Path) -> None:
    assert "no dashboard yet" in str(dev_report.dashboard_state(tmp_path, disabled=False))
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text("{}")
    assert "npm --prefix web run build" in str(dev_report.dashboard_state(tmp_path, disabled=False))
    server = tmp_path / "web" / ".next" / "standalone" / "server.js"
    server.parent.mkdir(parents=True)
    server.write_text("")
    assert dev_report.dashboard_state(tmp_path, disabled=False) is None
    assert dev_report.dashboard_state(tmp_path, disabled=True) == "off (--no-dashboard)"


HEALTH = {
    "coding_backend": "codex_cli",
    "backends": {
        "codex_cli": {"usable": True, "model_access": "gateway_relay"},
        "relay_helper": {"usable": False, "reason": "codex CLI missing", "enable": "make tools"},
        "deterministic_proof": {"usable": True, "model_access": "none"},
    },
}


def test_a_relay_backed_backend_is_usable_only_with_a_gateway_provider() -> None:
    without = dev_report.backend_lines(HEALTH, relay=False)
    assert "codex_cli (default)" in without[0] and "HIVE_MODEL_PROVIDERS" in without[0]
    assert without[1].endswith("not usable: codex CLI missing. To enable: make tools")
    assert without[2].endswith("usable") and "not" not in without[2]
    with_relay = dev_report.backend_lines(HEALTH, relay=True)
    assert with_relay[0].endswith(" usable")


def test_relay_configured_reads_hive_model_providers() -> None:
    assert not dev_report.relay_configured({})
    assert not dev_report.relay_configured({"HIVE_MODEL_PROVIDERS": "[]"})
    assert not dev_report.relay_configured({"HIVE_MODEL_PROVIDERS": "not json"})
    assert dev_report.relay_configured({"HIVE_MODEL_PROVIDERS": '[{"id": "p"}]'})


def test_the_record_is_private_found_while_alive_and_removed_by_its_owner(tmp_path: Path) -> None:
    path = dev_report.write_record(tmp_path, {"gateway_url": "http://127.0.0.1:1"})
    assert path.stat().st_mode & 0o777 == 0o600
    found = dev_report.read_record(tmp_path)
    assert found is not None and found["gateway_url"] == "http://127.0.0.1:1"
    assert found["pid"] == os.getpid()
    dev_report.remove_record(tmp_path)
    assert not path.exists()


def test_a_record_left_by_a_dead_process_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text(json.dumps({"pid": 2**22 + 12345, "gateway_url": "x"}))
    assert dev_report.read_record(tmp_path) is None
