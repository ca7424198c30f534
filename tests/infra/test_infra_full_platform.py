"""The `full-platform` overlay: the full gateway runtime plus the dashboard on one origin."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.infra.manifests import K8S, Obj, container, env_values, find, pod_spec, render
from tests.support.kube_cluster import KubeCluster

FULL_PLATFORM = K8S / "overlays" / "full-platform"
KUBERNETES_VERSION = "1.30.0"  # as the other renders


@pytest.fixture(scope="module")
def platform() -> list[Obj]:
    """`kubectl kustomize infra/k8s/overlays/full-platform`."""
    return render(FULL_PLATFORM)


def test_rendered_objects_are_valid_kubernetes(platform: list[Obj]) -> None:
    for obj in platform:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_it_is_the_full_gateway_runtime_plus_one_ingress(
    platform: list[Obj], overlay: list[Obj]
) -> None:
    key = lambda o: (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])  # noqa: E731
    assert {key(o) for o in platform} - {key(o) for o in overlay} == {
        ("Ingress", "openhive", "openhive")
    }
    assert find(platform, "Deployment", "gateway", "openhive") == find(
        overlay, "Deployment", "gateway", "openhive"
    )


def test_one_ingress_serves_dashboard_and_api_on_one_tls_origin(platform: list[Obj]) -> None:
    ingress = find(platform, "Ingress", "openhive", "openhive")
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] == "openhive-tls"
    assert tls["hosts"] == [rule["host"]]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"]["service"]["name"] == "dashboard"
    # SSE through the ingress: responses are not buffered.
    assert (
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    )


def test_dashboard_proxies_to_the_gateway_service_and_cookies_stay_secure(
    platform: list[Obj],
) -> None:
    dash = container(pod_spec(find(platform, "Deployment", "dashboard", "openhive")), "dashboard")
    target = urlsplit(env_values(dash)["HIVE_GATEWAY_INTERNAL_URL"])
    gateway_service = find(platform, "Service", "gateway", "openhive")
    assert target.hostname is not None
    assert target.hostname.split(".")[0] == gateway_service["metadata"]["name"]
    assert target.port in {p["port"] for p in gateway_service["spec"]["ports"]}
    gateway = container(pod_spec(find(platform, "Deployment", "gateway", "openhive")), "gateway")
    # Unset means Secure (the gateway's default); nothing in the overlay may turn it off.
    assert env_values(gateway).get("HIVE_COOKIE_SECURE", "true") == "true"


NAMESPACE_KEYS = ("namespace", "kubernetes.io/metadata.name")


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """`value` with its namespace references renamed: `namespace` fields (metadata,
    RoleBinding subjects) and namespaceSelector labels naming a namespace."""
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: names.get(v, v) if k in NAMESPACE_KEYS and isinstance(v, str) else _renamed(v, names)
        for k, v in value.items()
    }


def _in_namespaces(obj: Obj, names: dict[str, str]) -> Obj:
    out: Obj = _renamed(obj, names)
    if obj["kind"] == "Namespace":
        out["metadata"]["name"] = names[obj["metadata"]["name"]]
    return out


@pytest.mark.kube
@pytest.mark.timeout(300)
def test_the_api_server_accepts_the_rendered_overlay(
    kube_cluster: KubeCluster, platform: list[Obj]
) -> None:
    # The session's cluster is shared: the overlay goes into namespaces of its own (the
    # only cluster-scoped objects it has are its three Namespaces), removed afterwards.
    suffix = secrets.token_hex(3)
    names = {n: f"{n}-fp{suffix}" for n in ("openhive", "hive-agents", "hive-sandbox")}
    assert {o["metadata"]["name"] for o in platform if o["kind"] == "Namespace"} == set(names)
    objs = [_in_namespaces(o, names) for o in platform]
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
    try:
        done = kube_cluster.kubectl(
            "apply", "--server-side", "--field-manager=openhive-tests", "-f", "-", input=listing
        )
        # Admitted as restricted pods without a warning (Pod Security admission is on).
        assert "PodSecurity" not in done.stderr, done.stderr
        assert done.stdout.count("serverside-applied") == len(objs), done.stdout
        ingress = kube_cluster.get_json("ingress", "-n", names["openhive"], "openhive")
        (tls,) = ingress["spec"]["tls"]
        assert tls["secretName"] == "openhive-tls"
        (path,) = ingress["spec"]["rules"][0]["http"]["paths"]
        assert path["backend"]["service"]["name"] == "dashboard"
        dashboard = kube_cluster.get_json("deployment", "-n", names["openhive"], "dashboard")
        dash = container(dashboard["spec"]["template"]["spec"], "dashboard")
        assert "HIVE_GATEWAY_INTERNAL_URL" in env_values(dash)
    finally:
        kube_cluster.kubectl("delete", "namespace", *names.values(), "--wait=false", check=False)
