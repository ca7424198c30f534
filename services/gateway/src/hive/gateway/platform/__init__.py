"""What every route relies on: logs, metrics, health, draining, startup, the OpenAPI document."""
