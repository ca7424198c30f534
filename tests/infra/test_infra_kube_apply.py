"""The manifests against a real Kubernetes API server (tests/support/kube_cluster.py).

What a schema cannot show: that the API server admits every object (server-side
validation, Pod Security `restricted` at the pinned version, RBAC), that the
controllers turn the Deployments and the Job into Pods the scheduler places, and
that each Pod becomes Ready (kwok plays the kubelet: it reports containers as
started, it runs no image; the images themselves are tested in test_infra_images).
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.manifests import BASE, OVERLAY, Obj, find, pod_spec
from tests.support.kube_cluster import KubeCluster

pytestmark = [pytest.mark.kube, pytest.mark.timeout(600)]

NAMESPACES = ("openhive", "hive-agents", "hive-sandbox")
# Keys of `openhive-secrets` per namespace (infra/README.md, secrets.example.yaml).
SECRET_KEYS = {
    "openhive": (
        "DATABASE_URL",
        "DASHBOARD_SESSION_SECRET",
        "HIVE_INTERNAL_SECRET",
        "HIVE_CREDENTIAL_KEY",
        "HIVE_WORKSPACE_APPLY_RELAY_TOKEN",
    ),
    "hive-sandbox": ("DATABASE_URL", "HIVE_INTERNAL_SECRET", "HIVE_WORKSPACE_APPLY_RELAY_TOKEN"),
    "hive-agents": ("HIVE_INTERNAL_SECRET",),
}
READY_TIMEOUT_S = 120.0


def deploy(cluster: KubeCluster, kustomization: Path) -> str:
    """The README's steps: namespaces, the Secrets, then `kubectl apply -k`; its stderr."""
    cluster.kubectl("apply", "-f", str(BASE / "namespaces.yaml"))
    for namespace, keys in SECRET_KEYS.items():
        literals = [f"--from-literal={k}={secrets.token_urlsafe(36)}" for k in keys]
        cluster.kubectl(
            "-n", namespace, "create", "secret", "generic", "openhive-secrets", *literals
        )
    return cluster.kubectl("apply", "-k", str(kustomization)).stderr


def pods(cluster: KubeCluster) -> list[Obj]:
    out: list[Obj] = []
    for namespace in NAMESPACES:
        out += cluster.get_json("pods", "-n", namespace)["items"]
    return out


def is_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def rollout_done(cluster: KubeCluster) -> dict[str, Any]:
    """Per workload, whether it is done: Deployments available, Jobs complete."""
    state: dict[str, Any] = {}
    for namespace in NAMESPACES:
        for d in cluster.get_json("deployments", "-n", namespace)["items"]:
            status, want = d.get("status", {}), d["spec"]["replicas"]
            state[f"{namespace}/{d['metadata']['name']}"] = (
                status.get("updatedReplicas") == want
                and status.get("readyReplicas") == want
                and status.get("replicas") == want
            )
        for j in cluster.get_json("jobs", "-n", namespace)["items"]:
            state[f"{namespace}/job/{j['metadata']['name']}"] = (
                j.get("status", {}).get("succeeded", 0) >= 1
            )
    return state


def wait_until_rolled_out(cluster: KubeCluster) -> dict[str, Any]:
    return cluster.wait_for(
        lambda: rollout_done(cluster),
        lambda state: state and all(state.values()),
        READY_TIMEOUT_S,
        "every Deployment available and every Job complete",
    )


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[KubeCluster]:
    cluster = KubeCluster.start(tmp_path / "kube")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def base_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """A cluster with the base applied and rolled out (shared by the admission tests)."""
    cluster = KubeCluster.start(tmp_path_factory.mktemp("kube-base"))
    try:
        deploy(cluster, BASE)
        wait_until_rolled_out(cluster)
        yield cluster
    finally:
        cluster.stop()


def test_the_base_applies_and_every_pod_becomes_ready(fresh_cluster: KubeCluster) -> None:
    stderr = deploy(fresh_cluster, BASE)
    assert "PodSecurity" not in stderr, stderr  # no `restricted` warning either
    state = wait_until_rolled_out(fresh_cluster)
    assert set(state) == {
        "openhive/gateway",
        "openhive/dashboard",
        "hive-agents/agent",
        "hive-sandbox/sandbox",
    }
    running = pods(fresh_cluster)
    assert len(running) == 4 and all(is_ready(p) for p in running)
    assert {p["spec"]["nodeName"] for p in running} == {KubeCluster.node_name}


def test_the_full_gateway_runtime_applies_its_job_completes_and_every_pod_becomes_ready(
    fresh_cluster: KubeCluster,
) -> None:
    stderr = deploy(fresh_cluster, OVERLAY)
    assert "PodSecurity" not in stderr, stderr
    state = wait_until_rolled_out(fresh_cluster)
    assert state["openhive/job/openhive-migrate"] is True
    running = [p for p in pods(fresh_cluster) if p["metadata"]["labels"].get("job-name") is None]
    assert len(running) == 4 and all(is_ready(p) for p in running)
    gateway = next(p for p in running if p["metadata"]["name"].startswith("gateway-"))
    # The init container ran to completion before the gateway (kwok's pod lifecycle).
    (init,) = gateway["status"]["initContainerStatuses"]
    assert init["name"] == "wait-for-schema" and init["state"]["terminated"]["exitCode"] == 0


def test_the_cluster_then_holds_exactly_what_the_manifests_say(base_cluster: KubeCluster) -> None:
    # `kubectl diff` asks the API server for a dry-run apply of every object: exit 0 means
    # nothing would change (`kubectl apply` itself reports PodDisruptionBudgets as
    # "configured" on every run, a client-side patch quirk, though their generation stays).
    done = base_cluster.kubectl("diff", "-k", str(BASE), check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _sandbox_pod(rendered: list[Obj]) -> Obj:
    """A bare Pod with exactly the sandbox Deployment's pod template."""
    template = find(rendered, "Deployment", "sandbox", "hive-sandbox")["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "psa-probe", "namespace": "hive-sandbox", **template["metadata"]},
        "spec": copy.deepcopy(template["spec"]),
    }


def _privilege_escalation(spec: Obj) -> None:
    spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True


def _root_user(spec: Obj) -> None:
    spec["securityContext"].pop("runAsNonRoot")
    spec["securityContext"]["runAsUser"] = 0


def _added_capability(spec: Obj) -> None:
    spec["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


def _host_path(spec: Obj) -> None:
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})


def _unconfined_seccomp(spec: Obj) -> None:
    spec["securityContext"]["seccompProfile"] = {"type": "Unconfined"}


@pytest.mark.parametrize(
    "break_it",
    [_privilege_escalation, _root_user, _added_capability, _host_path, _unconfined_seccomp],
)
def test_a_pod_that_breaks_restricted_is_refused_by_pod_security_admission(
    base_cluster: KubeCluster, base: list[Obj], break_it: Any
) -> None:
    pod = _sandbox_pod(base)
    # The same pod unchanged is admitted: the refusal below is the change's alone.
    base_cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod))
    break_it(pod["spec"])
    done = base_cluster.kubectl("create", "-f", "-", input=json.dumps(pod), check=False)
    assert done.returncode != 0
    assert 'violates PodSecurity "restricted:v1.30"' in done.stderr, done.stderr


# -- the gateway's ServiceAccount ------------------------------------------------------

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
RESOURCES = (
    ("", "pods"),
    ("", "services"),
    ("", "secrets"),
    ("", "configmaps"),
    ("apps", "deployments"),
    ("", "pods/exec"),
    ("", "pods/log"),
)


def _json_stream(text: str) -> list[Obj]:
    """kubectl prints one JSON document per created object, back to back."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        obj, end = decoder.raw_decode(text, at)
        out.append(obj)
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return out


def _granted(role: Obj, group: str, resource: str, verb: str) -> bool:
    return any(
        group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
        for rule in role["rules"]
    )


def test_the_gateway_service_account_can_do_exactly_what_its_role_grants(
    base_cluster: KubeCluster, base: list[Obj]
) -> None:
    role = find(base, "Role", "gateway-agent-pool", "hive-agents")
    token = base_cluster.kubectl("-n", "openhive", "create", "token", "gateway").stdout.strip()
    reviews = []
    for namespace in NAMESPACES:
        for group, resource in RESOURCES:
            name, _, sub = resource.partition("/")
            for verb in VERBS:
                attrs = {"namespace": namespace, "verb": verb, "group": group, "resource": name}
                if sub:
                    attrs["subresource"] = sub
                reviews.append(
                    {
                        "apiVersion": "authorization.k8s.io/v1",
                        "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": attrs},
                    }
                )
    listing = {"apiVersion": "v1", "kind": "List", "items": reviews}
    out = base_cluster.kubectl(
        "create", "-f", "-", "-o", "json", input=json.dumps(listing), token=token
    ).stdout
    answers = _json_stream(out)
    assert len(answers) == len(reviews)
    wrong = []
    for answer in answers:
        attrs = answer["spec"]["resourceAttributes"]
        resource = attrs["resource"] + (
            "/" + attrs["subresource"] if "subresource" in attrs else ""
        )
        expected = attrs["namespace"] == "hive-agents" and _granted(
            role, attrs.get("group", ""), resource, attrs["verb"]
        )
        if answer["status"]["allowed"] != expected:
            wrong.append((attrs["namespace"], resource, attrs["verb"], answer["status"]))
    assert not wrong, wrong
    # Cluster-wide: nothing beyond what every authenticated identity may read.
    assert base_cluster.kubectl("get", "nodes", token=token, check=False).returncode != 0


def test_the_gateway_token_runs_an_agent_pod_and_its_service_in_hive_agents_only(
    base_cluster: KubeCluster, base: list[Obj]
) -> None:
    """What the Kubernetes pool does, with the gateway's own token: one Pod plus one Service."""
    token = base_cluster.kubectl("-n", "openhive", "create", "token", "gateway").stdout.strip()
    template = find(base, "Deployment", "agent", "hive-agents")["spec"]["template"]
    labels = {**template["metadata"]["labels"], "openhive.io/agent": "probe"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "agent-probe", "namespace": "hive-agents", "labels": labels},
        "spec": pod_spec({"kind": "Deployment", "spec": {"template": template}}),
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "agent-probe", "namespace": "hive-agents"},
        "spec": {"selector": {"openhive.io/agent": "probe"}, "ports": [{"port": 8090}]},
    }
    for obj in (pod, service):
        base_cluster.kubectl("create", "-f", "-", input=json.dumps(obj), token=token)
    base_cluster.wait_for(
        lambda: base_cluster.get_json("pod", "-n", "hive-agents", "agent-probe"),
        is_ready,
        READY_TIMEOUT_S,
        "the agent pod Ready",
    )
    elsewhere = {**pod, "metadata": {**pod["metadata"], "namespace": "hive-sandbox"}}
    refused = base_cluster.kubectl(
        "create", "-f", "-", input=json.dumps(elsewhere), token=token, check=False
    )
    assert refused.returncode != 0 and "forbidden" in refused.stderr, refused.stderr
    base_cluster.kubectl(
        "-n",
        "hive-agents",
        "delete",
        "pod/agent-probe",
        "service/agent-probe",
        "--wait=false",
        token=token,
    )
