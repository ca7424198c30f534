"""The kubernetes pool's objects and reconciliation rules, without a cluster.

Names, manifests (checked against the Kubernetes OpenAPI schema by
kubernetes-validate, strict) and the reconciliation plan. The same objects
against a real API server (admission, RBAC, readiness, garbage collection) are in
test_kubernetes_pool.py.
"""

from __future__ import annotations

import re

import kubernetes_validate
from hypothesis import given
from hypothesis import strategies as st

from hive.gateway.pools.kubernetes_objects import (
    AGENT_ID_ANNOTATION,
    CONTROLLER_ANNOTATION,
    Existing,
    PodSpecInputs,
    base_url,
    object_name,
    plan,
    pod_manifest,
    secret_manifest,
    service_manifest,
)

RFC1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
K8S = "1.33.0"


@given(st.text(min_size=1, max_size=300))
def test_names_are_dns_safe_and_deterministic_for_any_id(agent_id: str) -> None:
    name = object_name(agent_id)
    assert len(name) <= 63 and RFC1035.match(name), name
    assert object_name(agent_id) == name


def test_ids_that_slug_alike_get_different_names() -> None:
    names = {object_name(i) for i in ("Keeper_1", "keeper-1", "KEEPER 1", "keeper--1", "../x")}
    assert len(names) == 5


def _pod(agent_id: str = "Scout/Ünïcode id") -> dict[str, object]:
    return pod_manifest(
        PodSpecInputs(
            agent_id=agent_id,
            controller_id="gw-1",
            image="openhive/agent:0.1.0",
            config_json='{"agent_id": "x"}',
            gateway_url="http://gateway.openhive.svc:8080",
        )
    )


def test_pod_and_service_are_valid_objects_with_exact_ids_in_annotations() -> None:
    agent_id = "Scout/Ünïcode id"
    pod, service = _pod(agent_id), service_manifest(agent_id, "gw-1")
    kubernetes_validate.validate(pod, K8S, strict=True)
    kubernetes_validate.validate(service, K8S, strict=True)
    for obj in (pod, service):
        meta = obj["metadata"]
        assert meta["annotations"][AGENT_ID_ANNOTATION] == agent_id  # exact, not label-mangled
        assert meta["annotations"][CONTROLLER_ANNOTATION] == "gw-1"
        assert meta["name"] == object_name(agent_id)
    assert service["spec"]["selector"] == {"openhive.dev/agent": object_name(agent_id)}
    assert base_url(agent_id, "hive-agents") == (
        f"http://{object_name(agent_id)}.hive-agents.svc:8090"
    )


def test_pod_meets_the_restricted_pod_security_profile() -> None:
    spec = _pod()["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["initContainers"] + spec["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert not {"DATABASE_URL", "HIVE_INTERNAL_SECRET"} & set(env)
    # The agent's token is a Secret reference, never a value in the Pod spec.
    assert env["HIVE_AGENT_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": object_name("Scout/Ünïcode id"), "key": "token"}
    }


def test_the_token_secret_is_valid_and_owned_by_its_pod() -> None:
    secret = secret_manifest("Scout/Ünïcode id", "gw-1", "hvt.x.y", "uid-1")
    kubernetes_validate.validate(secret, K8S, strict=True)
    assert secret["metadata"]["name"] == object_name("Scout/Ünïcode id")
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert secret["stringData"] == {"token": "hvt.x.y"}


def _obj(kind: str, agent_id: str | None, controller: str | None, name: str | None = None):  # type: ignore[no-untyped-def]
    annotations = {}
    if agent_id is not None:
        annotations[AGENT_ID_ANNOTATION] = agent_id
    if controller is not None:
        annotations[CONTROLLER_ANNOTATION] = controller
    return Existing(kind, name or object_name(agent_id or "x"), annotations)


def test_reconciliation_creates_missing_and_deletes_only_our_orphans() -> None:
    existing = [
        _obj("Pod", "kept", "me"),
        _obj("Service", "kept", "me"),
        _obj("Pod", "gone", "me"),
        _obj("Service", "gone", "me"),
        _obj("Pod", "theirs", "another-gateway"),
        _obj("Service", "theirs", "another-gateway"),
        _obj("Pod", None, None, "hand-made"),
        _obj("Service", "new", "another-gateway"),  # same agent id, another controller's
    ]
    todo = plan(["kept", "new"], existing, "me")
    assert sorted(todo.delete) == [("Pod", object_name("gone")), ("Service", object_name("gone"))]
    assert sorted(todo.create) == [("Pod", "new"), ("Service", "new")]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Pod", "Service"]),
            st.text(min_size=1, max_size=20),
            st.sampled_from(["me", "other", None]),
        ),
        max_size=20,
    ),
    st.lists(st.text(min_size=1, max_size=20), max_size=10),
)
def test_reconciliation_never_deletes_another_controllers_object(
    objects: list[tuple[str, str, str | None]], live: list[str]
) -> None:
    existing = [_obj(kind, agent_id, owner) for kind, agent_id, owner in objects]
    todo = plan(live, existing, "me")
    ours = {(e.kind, e.name) for e in existing if e.annotations.get(CONTROLLER_ANNOTATION) == "me"}
    assert set(todo.delete) <= ours
    for kind, name in todo.delete:
        assert not any(
            e.kind == kind and e.name == name and e.annotations[AGENT_ID_ANNOTATION] in live
            for e in existing
            if e.annotations.get(CONTROLLER_ANNOTATION) == "me"
            and e.name == object_name(e.annotations[AGENT_ID_ANNOTATION])
        )
