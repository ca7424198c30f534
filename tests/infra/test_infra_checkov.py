"""checkov over infra/ with the accepted findings of infra/checkov.yaml, each justified there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "infra" / "checkov.yaml"
CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"

pytestmark = pytest.mark.timeout(600)


def checkov(directory: Path) -> list[dict[str, Any]]:
    """The failed checks of `checkov -d DIRECTORY` under the project's config."""
    assert CHECKOV.is_file(), "checkov missing: run `make test-tools` (scripts/install-tools.sh)"
    # BC_SKIP_MAPPING: no call home for the guideline links (--skip-download covers the rest).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "-d", str(directory), "-o", "json"],
        capture_output=True,
        text=True,
        timeout=540,
        env=env,
        check=False,
        cwd=REPO,
    )
    assert done.stdout.strip(), done.stderr[-5000:]
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f for r in reports for f in r.get("results", {}).get("failed_checks", [])]
    assert (done.returncode != 0) == bool(failed), done.stderr[-5000:]
    return failed


def test_checkov_finds_nothing_in_infra_beyond_the_accepted_findings() -> None:
    failed = checkov(REPO / "infra")
    assert not failed, [(f["check_id"], f["resource"]) for f in failed]


def test_every_skipped_check_is_justified_by_a_comment_above_it() -> None:
    skipped = yaml.safe_load(CONFIG.read_text())["skip-check"]
    lines = CONFIG.read_text().splitlines()
    for check in skipped:
        (at,) = [i for i, line in enumerate(lines) if line.strip() == f"- {check}"]
        comment = lines[at - 1].strip()
        assert comment.startswith("#") and len(comment) > 20, check
        block = " ".join(line.strip() for line in lines[:at] if line.strip().startswith("#"))
        assert re.search(rf"#\s*{check}\b", block), f"{check}: the comment must name it"


def test_checkov_reports_a_careless_manifest(tmp_path: Path) -> None:
    """The scan is live: a privileged root pod is reported under the same config."""
    shutil.copytree(REPO / "infra" / "k8s" / "base", tmp_path / "base")
    shutil.copytree(REPO / "infra" / "k8s" / "components", tmp_path / "components")
    sandbox = tmp_path / "base" / "sandbox.yaml"
    text = sandbox.read_text().replace(
        "allowPrivilegeEscalation: false\n            readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: true\n            privileged: true",
    )
    assert text != sandbox.read_text()
    sandbox.write_text(text)
    ids = {f["check_id"] for f in checkov(tmp_path)}
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_22"} <= ids, ids
