"""The gateway's half of "can this backend run?": its relay must have a model provider.

The sandbox refuses a backend it cannot run (no `codex` binary, no provider of
its own) and says so in its `/healthz` `backends`. It cannot see the gateway's
HIVE_MODEL_PROVIDERS, so a backend whose model calls go through the gateway
relay (`model_access: gateway_relay`) is checked here before a create is
forwarded: without a provider every attempt would fail after its first model
call. The sandbox's health is read at most every `ttl_s` seconds; when it
cannot be read the sandbox's own answer to the create decides.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from hive.gateway.dev_tasks.sandbox_client import SandboxClient
from hive.gateway.errors import GatewayError, Invalid

NO_PROVIDER = (
    "backend {backend!r} calls its model through the gateway relay, and the gateway has no "
    "model provider. To enable it: set HIVE_MODEL_PROVIDERS for the gateway, a JSON list of "
    '{{"id", "base_url", "api_key_env", "models": [...]}} (the key is read from the variable '
    "api_key_env names, in the gateway only); or use backend deterministic_proof, which "
    "needs no model"
)


class BackendAdmission:
    """Refuses, at create, a relay-backed backend when the relay has nowhere to go."""

    def __init__(self, sandbox: SandboxClient, *, relay_configured: bool, ttl_s: float = 10.0):
        self.sandbox = sandbox
        self.relay_configured = relay_configured
        self.ttl_s = ttl_s
        self._health: dict[str, Any] | None = None
        self._read_at = float("-inf")

    async def _sandbox_health(self) -> dict[str, Any] | None:
        if time.monotonic() - self._read_at < self.ttl_s:
            return self._health
        try:
            reply = await self.sandbox.request("GET", "/healthz")
            doc = msgspec.json.decode(reply.body) if reply.status == 200 else None
        except (GatewayError, msgspec.DecodeError):
            doc = None
        self._health = doc if isinstance(doc, dict) else None
        self._read_at = time.monotonic()
        return self._health

    async def check(self, backend: str | None) -> None:
        """422 naming the fix when `backend` (or the sandbox's default) needs a relay provider."""
        if self.relay_configured:
            return
        health = await self._sandbox_health()
        if health is None:
            return
        name = backend or health.get("coding_backend")
        verdict = (health.get("backends") or {}).get(name)
        # An unusable backend is the sandbox's to refuse, with its own (more basic) reason.
        if (
            isinstance(verdict, dict)
            and verdict.get("usable")
            and verdict.get("model_access") == "gateway_relay"
        ):
            raise Invalid(NO_PROVIDER.format(backend=name))
