"""No secret value in the manifests: every secret comes from a Secret object by reference."""

from __future__ import annotations

import re

import pytest

from hive.gateway.pools.settings import AgentPoolSettings
from hive.gateway.settings import GatewaySettings, SettingsError
from tests.infra.manifests import (
    SECRETS_EXAMPLE,
    Obj,
    all_containers,
    find,
    load_file,
    manifest_files,
    pod_spec,
    workloads,
)

SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL|DATABASE_URL|_DSN")
# Env names that hold the *name* of another variable, not a value.
NAME_HOLDERS = {"HIVE_SANDBOX_CODEX_PROVIDER_ENV_KEY", "HIVE_SANDBOX_CODEX_ENV_ALLOWLIST"}
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def env_entries(objs: list[Obj]) -> list[tuple[str, Obj]]:
    return [
        (f"{w['metadata']['namespace']}/{w['metadata']['name']}/{c['name']}", e)
        for w in workloads(objs)
        for c in all_containers(pod_spec(w))
        for e in c.get("env", [])
    ]


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_secret_env_comes_only_from_secret_key_refs(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    entries = env_entries({"base": base, "overlay": overlay}[which])
    secret_like = [(where, e) for where, e in entries if SECRET_NAME.search(e["name"])]
    assert secret_like, "the manifests reference no secret at all?"
    for where, e in secret_like:
        if e["name"] in NAME_HOLDERS:
            continue
        assert "value" not in e, f"{where}: {e['name']} has a literal value"
        assert set(e["valueFrom"]) == {"secretKeyRef"}, f"{where}: {e['name']}"


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_no_env_from_and_no_credentials_in_urls(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    objs = {"base": base, "overlay": overlay}[which]
    for w in workloads(objs):
        for c in all_containers(pod_spec(w)):
            assert "envFrom" not in c, c["name"]
    for where, e in env_entries(objs):
        assert not URL_WITH_PASSWORD.search(str(e.get("value", ""))), where


def test_no_manifest_file_other_than_the_example_holds_secret_data() -> None:
    for path in manifest_files():
        if path == SECRETS_EXAMPLE:
            continue
        for doc in load_file(path):
            assert doc["kind"] != "Secret", path
            if doc["kind"] == "ConfigMap":
                assert not any(SECRET_NAME.search(k) for k in doc.get("data", {})), path


def test_every_secret_reference_is_described_by_the_example(overlay: list[Obj]) -> None:
    example = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): set(s["stringData"])
        for s in load_file(SECRETS_EXAMPLE)
    }
    refs = 0
    for w in workloads(overlay):
        for c in all_containers(pod_spec(w)):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs += 1
                    keys = example.get((w["metadata"]["namespace"], ref["name"]), set())
                    assert ref["key"] in keys, (w["metadata"]["namespace"], ref)
    assert refs >= 8


STRONG = "k8s-test-" + "a1B2c3D4e5F6g7H8" * 3
CHECKED_SECRETS = (
    "DASHBOARD_SESSION_SECRET",
    "HIVE_INTERNAL_SECRET",
    "HIVE_CREDENTIAL_KEY",
    "HIVE_BOOTSTRAP_ADMIN_PASSWORD",
    "HIVE_WORKSPACE_APPLY_RELAY_TOKEN",
)


def gateway_environ(overlay: list[Obj]) -> tuple[dict[str, str], dict[str, str]]:
    """The full gateway's literal env, and the example Secret's values for it."""
    (secret,) = [s for s in load_file(SECRETS_EXAMPLE) if s["metadata"]["namespace"] == "openhive"]
    spec = pod_spec(find(overlay, "Deployment", "gateway", "openhive"))
    (c,) = [c for c in spec["containers"] if c["name"] == "gateway"]
    return {e["name"]: e["value"] for e in c["env"] if "value" in e}, dict(secret["stringData"])


def test_the_gateway_starts_from_this_env_once_secrets_are_real(overlay: list[Obj]) -> None:
    literal, example = gateway_environ(overlay)
    real = {**literal, **example, **{name: STRONG for name in CHECKED_SECRETS}}
    settings = GatewaySettings.from_env(real)
    assert settings.strict and settings.migration_mode == "check"
    assert not settings.metadata_create
    agents = AgentPoolSettings.from_env(real)
    assert (agents.pool_backend, agents.container_runtime) == ("container", "kubernetes")
    assert agents.kubeconfig is None  # in the cluster: the mounted ServiceAccount token


@pytest.mark.parametrize("name", CHECKED_SECRETS)
def test_each_example_secret_is_refused_by_strict_startup(overlay: list[Obj], name: str) -> None:
    literal, example = gateway_environ(overlay)
    environ = {**literal, **example, **{n: STRONG for n in CHECKED_SECRETS if n != name}}
    with pytest.raises(SettingsError) as refused:
        GatewaySettings.from_env(environ)
    assert refused.value.setting == name
