"""The gateway's git runs under the same hardened rules as the sandbox's (no drift)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive.contracts.hardened_git import SAFE_CONFIG, hardened_env
from hive.gateway.dev_tasks import working_tree
from hive.sandbox.workruns import git_repo


def test_gateway_and_sandbox_git_share_the_hardened_environment(tmp_path: Path) -> None:
    gateway_env = working_tree.git_env(tmp_path / "ws")
    sandbox_env = git_repo.git_env(ceiling=tmp_path)
    for name in ("GIT_ATTR_NOSYSTEM", "GIT_NO_REPLACE_OBJECTS", "GIT_PAGER", "PAGER"):
        assert name in gateway_env
        assert gateway_env[name] == sandbox_env[name]
    shared = set(hardened_env()) - {"PATH"}
    assert {k: gateway_env[k] for k in shared} == {k: sandbox_env[k] for k in shared}
    assert gateway_env["GIT_CEILING_DIRECTORIES"] == str(tmp_path)


async def test_gateway_git_ignores_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's environment is built from nothing: inherited config (here malformed) never reaches it."""
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'broken")
    target = tmp_path / "ws"
    target.mkdir()
    (target / "a.txt").write_text("one\n")
    diff = b"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+two\n"
    result = await working_tree.WorkingTree(target).apply(diff)
    assert result.ok, result.reason
    assert (target / "a.txt").read_text() == "two\n"


def test_every_safe_option_reaches_the_command_line(tmp_path: Path) -> None:
    argv = working_tree._config(tmp_path)
    for option in SAFE_CONFIG:
        assert option in argv
    assert f"safe.directory={tmp_path}" in argv
