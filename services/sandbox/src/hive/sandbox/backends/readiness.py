"""Which coding backends can run on this replica, and how to enable the others.

Decided once at startup from the settings and the Codex probe, so a Work Run
that could only fail later (no `codex` binary, no model provider) is refused
at create with the fix, and `/healthz` and `hive dev` say the same thing.
The sandbox cannot see the gateway's providers: a backend whose model calls go
through the gateway relay reports `model_access: gateway_relay`, and the
gateway adds its own check (HIVE_MODEL_PROVIDERS) before it forwards a create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hive.sandbox.codex.install import CodexInstall
from hive.sandbox.settings import SandboxSettings

ModelAccess = Literal["none", "provider", "gateway_relay"]

RELAY_PROVIDERS_HINT = "the gateway needs HIVE_MODEL_PROVIDERS (its relay's upstreams)"


@dataclass(frozen=True, slots=True)
class BackendReadiness:
    """One backend's verdict: usable here, or why not and how to enable it."""

    name: str
    usable: bool
    model_access: ModelAccess
    reason: str | None = None
    """Why it cannot run (None when usable)."""
    enable: str | None = None
    """The settings that would make it usable (None when usable)."""

    def refusal(self) -> str:
        """The 422 message of a create that names this backend."""
        return f"backend {self.name!r} cannot run here: {self.reason}. To enable it: {self.enable}"

    def as_health(self) -> dict[str, Any]:
        """One entry of `/healthz`'s `backends`."""
        return {
            "usable": self.usable,
            "model_access": self.model_access,
            "reason": self.reason,
            "enable": self.enable,
        }


def _codex_missing(name: str, codex: CodexInstall) -> BackendReadiness:
    fix = (
        "run `make tools` (installs the pinned Codex CLI into .tools/codex)"
        if codex.source == "pinned"
        else "point HIVE_SANDBOX_CODEX_BIN at a working `codex` binary"
    )
    return BackendReadiness(name, False, "none", reason=codex.describe(), enable=fix)


def _codex_cli(settings: SandboxSettings, codex: CodexInstall) -> BackendReadiness:
    if not codex.present:
        return _codex_missing("codex_cli", codex)
    cx = settings.codex
    if cx.auth_mode == "relay":
        if not settings.gateway_url:
            return BackendReadiness(
                "codex_cli",
                False,
                "gateway_relay",
                reason="HIVE_SANDBOX_CODEX_AUTH_MODE=relay but HIVE_GATEWAY_URL is not set",
                enable="set HIVE_GATEWAY_URL to the gateway (`hive dev` does)",
            )
        return BackendReadiness("codex_cli", True, "gateway_relay")
    if cx.provider_id and cx.provider_base_url:
        return BackendReadiness("codex_cli", True, "provider")
    return BackendReadiness(
        "codex_cli",
        False,
        "none",
        reason=f"no model provider is configured (HIVE_SANDBOX_CODEX_AUTH_MODE={cx.auth_mode})",
        enable=(
            "set HIVE_SANDBOX_CODEX_AUTH_MODE=relay and give the gateway HIVE_MODEL_PROVIDERS, "
            "or set HIVE_SANDBOX_CODEX_PROVIDER_ID and HIVE_SANDBOX_CODEX_PROVIDER_BASE_URL "
            "(an OpenAI-compatible Responses API)"
        ),
    )


def _relay_helper(settings: SandboxSettings, codex: CodexInstall) -> BackendReadiness:
    if not codex.present:
        return _codex_missing("relay_helper", codex)
    if not settings.gateway_url:
        return BackendReadiness(
            "relay_helper",
            False,
            "gateway_relay",
            reason="HIVE_GATEWAY_URL is not set (the relay and task tokens)",
            enable="set HIVE_GATEWAY_URL to the gateway (`hive dev` does)",
        )
    return BackendReadiness("relay_helper", True, "gateway_relay")


def backend_readiness(
    settings: SandboxSettings, codex: CodexInstall
) -> dict[str, BackendReadiness]:
    """The verdict for every known backend, in KNOWN_BACKENDS order."""
    return {
        "codex_cli": _codex_cli(settings, codex),
        "relay_helper": _relay_helper(settings, codex),
        "deterministic_proof": BackendReadiness("deterministic_proof", True, "none"),
    }
