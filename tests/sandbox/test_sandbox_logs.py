"""The sandbox logs JSON lines on stdout through the shared redactor: a secret it was
given (internal secret, database password, apply relay token, an allowlisted provider
key) never appears in its log output, whatever path a log line takes."""

from __future__ import annotations

from tests.support.log_probe import probe_logs

INTERNAL = "canary-sandbox-internal-secret-7d2e"
DB_PASSWORD = "canary-db-password-41af"
RELAY_TOKEN = "canary-relay-token-0b9c"
PROVIDER_KEY = "sk-canary-provider-key-5e13"


def test_secrets_given_to_the_sandbox_never_reach_its_log() -> None:
    env = {
        "HIVE_INTERNAL_SECRET": INTERNAL,
        "DATABASE_URL": f"postgresql://hive:{DB_PASSWORD}@127.0.0.1:5432/hive",
        "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN": RELAY_TOKEN,
        "HIVE_SANDBOX_CODEX_ENV_ALLOWLIST": "PROVIDER_KEY",
        "PROVIDER_KEY": PROVIDER_KEY,
        "HIVE_SANDBOX_ROOT": "/nonexistent-sandbox-root",
    }
    secrets = [INTERNAL, DB_PASSWORD, RELAY_TOKEN, PROVIDER_KEY]
    lines = probe_logs("hive.sandbox.main", "hive.sandbox", env, secrets)
    # Every probe line arrived (redacted, not dropped), as JSON with its level and logger.
    assert len([line for line in lines if line.get("logger") == "hive.sandbox"]) >= 3 * len(secrets)
    assert any(line.get("logger") == "asyncpg" for line in lines)
    assert all("[REDACTED]" in str(line) for line in lines if "leaked" in str(line))
