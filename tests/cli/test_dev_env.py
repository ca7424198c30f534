"""`hive dev` hands each child only the environment its role needs."""

from __future__ import annotations

import json

import pytest

from hive.cli import dev


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = [{"id": "p", "base_url": "http://127.0.0.1:1/v1", "api_key_env": "VENDOR_KEY_X"}]
    monkeypatch.setenv("HIVE_MODEL_PROVIDERS", json.dumps(providers))
    monkeypatch.setenv("VENDOR_KEY_X", "sk-canary-vendor")
    monkeypatch.setenv("HIVE_SANDBOX_WORKSPACE_VISIBILITY", "separate")
    monkeypatch.setenv("HIVE_SANDBOX_LEASE_TTL_S", "7")


@pytest.mark.usefixtures("operator_env")
def test_vendor_key_and_gateway_settings_reach_the_gateway_only() -> None:
    gateway = dev.gateway_env({})
    assert gateway["VENDOR_KEY_X"] == "sk-canary-vendor"
    assert gateway["HIVE_SANDBOX_WORKSPACE_VISIBILITY"] == "separate"
    assert "HIVE_MODEL_PROVIDERS" in gateway
    sandbox = dev._base_env() | dev.sandbox_env({})
    assert "VENDOR_KEY_X" not in sandbox
    assert "sk-canary-vendor" not in sandbox.values()
    assert "HIVE_MODEL_PROVIDERS" not in sandbox
    assert sandbox["HIVE_SANDBOX_LEASE_TTL_S"] == "7"
    assert "HIVE_SANDBOX_LEASE_TTL_S" not in gateway


@pytest.mark.usefixtures("operator_env")
def test_what_hive_dev_sets_itself_wins() -> None:
    assert "HIVE_SANDBOX_WORKSPACE_VISIBILITY" not in dev.gateway_env(
        {"HIVE_SANDBOX_WORKSPACE_VISIBILITY": "shared"}
    )


def test_malformed_providers_do_not_stop_hive_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIVE_MODEL_PROVIDERS", "not json")
    assert dev.gateway_env({})["HIVE_MODEL_PROVIDERS"] == "not json"
