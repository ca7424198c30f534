"""Print the OpenAPI document of `hive.gateway.main:app` (what GET /schema serves), as JSON.

The app is built with throwaway settings and never started: building it reads no
database and opens no socket, so the dashboard's typed client can be generated (and
checked for staleness) without a running gateway.
"""

from __future__ import annotations

import json
import sys

from hive.gateway.main import create_app
from hive.gateway.settings import GatewaySettings

# Placeholders only shape the settings object; nothing here is a real secret.
SETTINGS_ENV = {
    "DATABASE_URL": "postgresql://openapi@127.0.0.1:9/unused",
    "DASHBOARD_SESSION_SECRET": "openapi-dump-session-secret-0000000000000000",
    "HIVE_INTERNAL_SECRET": "openapi-dump-internal-secret-000000000000000",
    "HIVE_CREDENTIAL_KEY": "openapi-dump-credential-key-0000000000000000",
    "HIVE_WORKSPACE": "/nonexistent",
    "HIVE_STRICT_STARTUP": "false",
}


def main() -> int:
    """Write the document to stdout (sorted keys, stable across runs)."""
    app = create_app(GatewaySettings.from_env(SETTINGS_ENV), configure_logs=False)
    json.dump(app.openapi_schema.to_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
