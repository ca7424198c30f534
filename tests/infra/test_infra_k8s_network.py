"""The NetworkPolicies express the spec's isolation rules (read through a small model)."""

from __future__ import annotations

import pytest

from tests.infra.manifests import K8S, Obj, find, pod_labels
from tests.infra.network_model import OUTSIDE, Endpoint, NetworkModel

NAMESPACES = ("openhive", "hive-agents", "hive-sandbox")


def endpoints(objs: list[Obj]) -> dict[str, Endpoint]:
    """Every role's pods as an endpoint, plus a second agent and the migration Job."""
    eps = {
        role: Endpoint(ns, pod_labels(find(objs, "Deployment", role, ns)))
        for role, ns in (
            ("gateway", "openhive"),
            ("dashboard", "openhive"),
            ("agent", "hive-agents"),
            ("sandbox", "hive-sandbox"),
        )
    }
    # Agents the container pool starts carry their own labels; isolation must not hinge
    # on them.
    eps["other-agent"] = Endpoint("hive-agents", {"app.kubernetes.io/name": "hive-agent-x"})
    return eps


# (source, destination, port, allowed) — the spec's rules, and what they forbid.
CASES = [
    ("agent", "gateway", 8080, True),
    ("agent", "sandbox", 8091, True),
    ("agent", "other-agent", 8090, False),
    ("other-agent", "agent", 8090, False),
    ("agent", "dashboard", 3000, False),
    ("agent", "outside", 443, False),
    ("agent", "outside", 5432, False),
    ("sandbox", "gateway", 8080, True),
    ("sandbox", "agent", 8090, False),
    ("sandbox", "dashboard", 3000, False),
    ("sandbox", "outside", 443, False),
    ("sandbox", "outside", 5432, True),
    ("gateway", "sandbox", 8091, True),
    ("gateway", "agent", 8090, True),
    ("gateway", "other-agent", 8090, True),
    ("gateway", "outside", 443, True),
    ("dashboard", "gateway", 8080, True),
    ("dashboard", "sandbox", 8091, False),
    ("dashboard", "agent", 8090, False),
    ("dashboard", "outside", 443, False),
    ("outside", "dashboard", 3000, True),
    ("outside", "agent", 8090, False),
    ("outside", "sandbox", 8091, False),
]


@pytest.mark.parametrize("which", ["base", "overlay"])
@pytest.mark.parametrize(("src", "dst", "port", "allowed"), CASES)
def test_isolation(
    base: list[Obj], overlay: list[Obj], which: str, src: str, dst: str, port: int, allowed: bool
) -> None:
    objs = {"base": base, "overlay": overlay}[which]
    model = NetworkModel(objs)
    eps = {**endpoints(objs), "outside": OUTSIDE}
    assert model.allows(eps[src], eps[dst], port) is allowed


@pytest.mark.parametrize("peer", ["other-agent", "sandbox", "dashboard"])
def test_agents_admit_only_the_gateway_on_either_side_alone(base: list[Obj], peer: str) -> None:
    # Each side holds on its own: a looser egress elsewhere cannot open an agent.
    model, eps = NetworkModel(base), endpoints(base)
    assert model.ingress_allows(eps["gateway"], eps["agent"], 8090)
    assert not model.ingress_allows(eps[peer], eps["agent"], 8090)
    assert not model.egress_allows(eps["agent"], eps["other-agent"], 8090)


@pytest.mark.parametrize("src", ["gateway", "dashboard", "agent", "sandbox", "other-agent"])
def test_dns_is_allowed_everywhere(base: list[Obj], src: str) -> None:
    model = NetworkModel(base)
    assert model.allows(endpoints(base)[src], OUTSIDE, 53, "UDP")
    assert model.allows(endpoints(base)[src], OUTSIDE, 53, "TCP")


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_each_namespace_denies_by_default(base: list[Obj], namespace: str) -> None:
    stray = Endpoint(namespace, {"app.kubernetes.io/name": "stray"})
    model = NetworkModel(base)
    assert not model.allows(stray, OUTSIDE, 443)
    assert not model.allows(stray, OUTSIDE, 80)


def test_the_gateway_reaches_its_database_only_in_the_full_runtime(
    base: list[Obj], overlay: list[Obj]
) -> None:
    assert not NetworkModel(base).allows(endpoints(base)["gateway"], OUTSIDE, 5432)
    assert NetworkModel(overlay).allows(endpoints(overlay)["gateway"], OUTSIDE, 5432)
    job = Endpoint("openhive", pod_labels(find(overlay, "Job", "openhive-migrate", "openhive")))
    assert NetworkModel(overlay).allows(job, OUTSIDE, 5432)
    assert not NetworkModel(overlay).allows(job, OUTSIDE, 443)


def test_the_model_itself_sees_an_open_namespace_as_open() -> None:
    # Without policies everything is allowed: the denials above come from the manifests.
    ns = [{"kind": "Namespace", "metadata": {"name": "x"}}]
    assert NetworkModel(ns).allows(Endpoint("x", {"a": "b"}), OUTSIDE, 443)


def test_database_egress_is_the_configured_cidr_not_everywhere(overlay: list[Obj]) -> None:
    env_file = K8S / "base" / "database-egress.env"
    configured = dict(
        line.split("=", 1)
        for line in env_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )["DATABASE_CIDR"]
    policies = [o for o in overlay if o["kind"] == "NetworkPolicy"]
    database = [p for p in policies if p["metadata"]["name"] == "allow-database"]
    assert {p["metadata"]["namespace"] for p in database} == {"openhive", "hive-sandbox"}
    for policy in database:
        (rule,) = policy["spec"]["egress"]
        assert rule["to"] == [{"ipBlock": {"cidr": configured}}]
        assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    # Nothing else opens 5432, and no ConfigMap used for rendering reaches the cluster.
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            if {"protocol": "TCP", "port": 5432} in rule.get("ports", []):
                assert policy in database, policy["metadata"]
    assert not [o for o in overlay if o["kind"] == "ConfigMap"]


@pytest.mark.parametrize("port", [443, 6443])
def test_the_gateway_reaches_the_kubernetes_api_on_both_ports(base: list[Obj], port: int) -> None:
    assert NetworkModel(base).allows(endpoints(base)["gateway"], OUTSIDE, port)
    assert not NetworkModel(base).allows(endpoints(base)["sandbox"], OUTSIDE, port)
