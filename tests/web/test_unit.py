"""The dashboard's Vitest suite (timeline layout, diff parsing, problem+json, SSE, log paging)."""

from __future__ import annotations

from tests.web.conftest import node_tool, run_node


def test_vitest_suite_passes() -> None:
    proc = run_node([str(node_tool("vitest")), "run", "--reporter=verbose"], timeout_s=300)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert " passed" in proc.stdout
