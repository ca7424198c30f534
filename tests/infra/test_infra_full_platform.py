"""The `full-platform` overlay: the full gateway runtime plus the dashboard on one origin."""

from __future__ import annotations

from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.infra.manifests import K8S, Obj, container, env_values, find, pod_spec, render

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
