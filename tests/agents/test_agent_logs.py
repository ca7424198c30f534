"""The agent runtime logs JSON lines on stdout through the shared redactor: its token
and internal secret never appear in its log output."""

from __future__ import annotations

from tests.support.log_probe import probe_logs

TOKEN = "hvt.canaryagenttokenpayload.canarysignature0123"
INTERNAL = "canary-agent-internal-secret-93c1"


def test_secrets_given_to_the_agent_never_reach_its_log() -> None:
    env = {"HIVE_AGENT_TOKEN": TOKEN, "HIVE_INTERNAL_SECRET": INTERNAL}
    lines = probe_logs("hive.agent.main", "hive.agent", env, [TOKEN, INTERNAL])
    assert len([line for line in lines if line.get("logger") == "hive.agent"]) >= 6
    assert all("[REDACTED]" in str(line) for line in lines if "leaked" in str(line))
