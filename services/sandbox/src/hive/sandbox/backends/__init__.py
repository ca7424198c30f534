"""Coding backends. Each lives in `hive.sandbox.backends.<name>` and exposes
`create(settings: SandboxSettings) -> CodingBackend`; modules are imported on
first use so a backend's dependencies load only when it is selected."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hive.sandbox.backends.base import (
    AttemptContext,
    AttemptResult,
    BackendUnavailable,
    CodingBackend,
    CommandOutcome,
)

if TYPE_CHECKING:
    from hive.sandbox.confinement import Confinement
    from hive.sandbox.settings import SandboxSettings

KNOWN_BACKENDS = ("codex_cli", "relay_helper", "deterministic_proof")

__all__ = [
    "KNOWN_BACKENDS",
    "AttemptContext",
    "AttemptResult",
    "BackendUnavailable",
    "CodingBackend",
    "CommandOutcome",
    "create_backend",
]


def create_backend(
    name: str, settings: SandboxSettings, confinement: Confinement | None = None
) -> CodingBackend:
    """Build the named backend; BackendUnavailable when it is unknown or not installed."""
    if name not in KNOWN_BACKENDS:
        raise BackendUnavailable(f"unknown coding backend {name!r}")
    try:
        module = importlib.import_module(f"hive.sandbox.backends.{name}")
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(f"coding backend {name!r} is not available: {exc}") from exc
    backend: CodingBackend = module.create(settings, confinement)
    return backend
