"""`hive demo` finds the running `hive dev` and the operator's password without being told much."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from hive.cli import demo, dev_report


def _args(**kw: object) -> argparse.Namespace:
    base = {"data_dir": None, "gateway_url": None, "user": "admin", "password_stdin": False}
    return argparse.Namespace(**(base | kw))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HIVE_BOOTSTRAP_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("HIVE_GATEWAY_PORT", raising=False)
    monkeypatch.setenv("HIVE_DATA_DIR", str(tmp_path / "default-data"))


def test_the_record_and_the_stored_password_of_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    dev_report.write_record(data, {"gateway_url": "http://127.0.0.1:4242"})
    (data / "secrets.json").write_text(json.dumps({"HIVE_BOOTSTRAP_ADMIN_PASSWORD": "pw-1"}))
    target = demo.find_target(_args(data_dir=data))
    assert target.gateway_url == "http://127.0.0.1:4242" and target.password == "pw-1"
    assert target.found == str(data / "dev.json")


def test_flags_and_the_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_BOOTSTRAP_ADMIN_PASSWORD", "from-env")
    target = demo.find_target(_args(gateway_url="http://gw:1/"))
    assert (target.gateway_url, target.password, target.found) == (
        "http://gw:1",
        "from-env",
        "--gateway-url",
    )
    target = demo.find_target(
        _args(gateway_url="http://gw:1", password_stdin=True), stdin=io.StringIO("typed\n")
    )
    assert target.password == "typed"


def test_no_password_anywhere_says_where_one_comes_from(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="--password-stdin"):
        demo.find_target(_args(gateway_url="http://gw:1"))


def test_a_data_dir_without_a_live_record_is_named(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError, match="no running `hive dev` recorded in"):
        demo.find_target(_args(data_dir=tmp_path / "empty"))
