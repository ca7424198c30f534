"""The pinned Codex CLI: installed by the project's set-up, found and probed by the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from hive.sandbox.codex import install

REPO = Path(__file__).resolve().parents[3]


def test_pinned_version_matches_the_committed_lock() -> None:
    package = json.loads((REPO / "tools" / "codex" / "package.json").read_text())
    lock = json.loads((REPO / "tools" / "codex" / "package-lock.json").read_text())
    assert package["dependencies"]["@openai/codex"] == install.PINNED_VERSION
    assert lock["packages"]["node_modules/@openai/codex"]["version"] == install.PINNED_VERSION


def test_the_default_is_the_pinned_install_and_reports_its_version() -> None:
    found = install.probe(None)
    assert found.source == "pinned"
    assert Path(found.path).is_relative_to(REPO / ".tools" / "codex")
    assert found.present, found.reason
    assert found.version == install.PINNED_VERSION
    health = found.as_health()
    assert health["present"] is True and health["version"] == install.PINNED_VERSION


def test_a_missing_override_is_reported_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-codex"
    found = install.probe(str(missing))
    assert found.source == "HIVE_SANDBOX_CODEX_BIN"
    assert not found.present and found.version is None
    assert str(missing) in (found.reason or "")
    assert "missing" in found.describe()


def test_a_binary_that_is_not_codex_is_not_present(tmp_path: Path) -> None:
    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\necho 'not a version'\n")
    fake.chmod(0o755)
    found = install.probe(str(fake))
    assert not found.present
    assert "version" in (found.reason or "")
