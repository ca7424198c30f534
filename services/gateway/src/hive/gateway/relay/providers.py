"""Model providers of the relay, from `HIVE_MODEL_PROVIDERS`.

`HIVE_MODEL_PROVIDERS` is a JSON list of `{"id", "base_url", "api_key_env",
"models": [...]}`. The key is read from the variable `api_key_env` names, in
the gateway process only; when that variable is unset the relay falls back to
a `provider` credential stored through the credentials API under the same id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec


class ProviderSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One entry of HIVE_MODEL_PROVIDERS as an operator writes it."""

    id: str
    base_url: str
    models: list[str]
    api_key_env: str | None = None


class ModelProvider(msgspec.Struct, kw_only=True, frozen=True):
    """A provider with its key resolved (the key never leaves the gateway)."""

    id: str
    base_url: str
    models: tuple[str, ...]
    api_key_env: str | None = None
    api_key: str | None = None

    def __repr__(self) -> str:  # keep the key out of any repr that reaches a log
        return f"ModelProvider(id={self.id!r}, base_url={self.base_url!r}, models={self.models!r})"


def parse_providers(raw: str, env: Mapping[str, str] | None = None) -> tuple[ModelProvider, ...]:
    """Parse and check HIVE_MODEL_PROVIDERS; raise ValueError saying what is wrong."""
    if not raw.strip():
        return ()
    try:
        specs = msgspec.json.decode(raw, type=list[ProviderSpec])
    except msgspec.DecodeError as exc:
        raise ValueError(f"is not a valid provider list: {exc}") from exc
    source = os.environ if env is None else env
    seen: set[str] = set()
    out: list[ModelProvider] = []
    for spec in specs:
        if not spec.id or spec.id in seen:
            raise ValueError(f"has an empty or duplicate provider id {spec.id!r}")
        seen.add(spec.id)
        parts = urlsplit(spec.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"provider {spec.id!r} has a bad base_url")
        if not spec.models:
            raise ValueError(f"provider {spec.id!r} lists no models")
        out.append(
            ModelProvider(
                id=spec.id,
                base_url=spec.base_url.rstrip("/"),
                models=tuple(spec.models),
                api_key_env=spec.api_key_env,
                api_key=(source.get(spec.api_key_env) or None) if spec.api_key_env else None,
            )
        )
    return tuple(out)


def provider_for(providers: tuple[ModelProvider, ...], model: str) -> ModelProvider | None:
    """The first provider that lists `model`."""
    for provider in providers:
        if model in provider.models:
            return provider
    return None
