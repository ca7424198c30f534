"""The kubernetes pool against a real API server (tests/support/kube_cluster.py).

The pool runs in this process with the gateway's own identity: a token of the
`gateway` ServiceAccount bound by infra/k8s/base/gateway-rbac.yaml, in namespaces
from infra/k8s/base/namespaces.yaml (Pod Security `restricted` enforced). So every
object it creates passes the API server's validation, admission and the RBAC
authorizer, and what it may not do is refused by that authorizer. kwok plays the
kubelet (Pods become Ready, nothing runs: the runtime's /healthz behind the Service
is tested with real processes in the other pools' suites).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from hive.contracts.agents import AgentConfig
from hive.gateway.agents.registry import AgentRecord
from hive.gateway.pools.kubernetes import KubernetesAgentPool, api_client
from hive.gateway.pools.kubernetes_objects import (
    AGENT_ID_ANNOTATION,
    AGENT_LABEL,
    CONTROLLER_ANNOTATION,
    MANAGED_BY,
    base_url,
    object_name,
    pod_manifest,
    secret_manifest,
    service_manifest,
)
from hive.gateway.pools.kubernetes_objects import PodSpecInputs as Inputs
from tests.agents.conftest import MODEL, start_gateway
from tests.infra.manifests import BASE
from tests.support.deadline import await_for
from tests.support.kube_cluster import KubeCluster

pytestmark = [pytest.mark.kube, pytest.mark.timeout(300)]

NS = "hive-agents"
READY_S = 60.0
# Ids the registry accepts, at their most awkward (it allows . _ : @ - and 128 characters).
REGISTRY_IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}\Z")


@pytest.fixture(scope="module")
def gateway_kubeconfig(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig whose only credential is a token of the gateway's ServiceAccount."""
    kube_cluster.kubectl("apply", "-f", str(BASE / "namespaces.yaml"))
    kube_cluster.kubectl("apply", "-f", str(BASE / "gateway-rbac.yaml"))
    token = kube_cluster.kubectl("-n", "openhive", "create", "token", "gateway").stdout.strip()
    config = json.loads(kube_cluster.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path = tmp_path_factory.mktemp("gateway-kube") / "kubeconfig"
    path.write_text(json.dumps(config))
    return path


def _agent(agent_id: str) -> AgentRecord:
    return AgentRecord(
        config=AgentConfig(agent_id=agent_id, project_id="prj_kube", model="m"),
        created_at=datetime.now(UTC),
    )


class Tokens:
    """Stands in for the gateway's token issuer: distinct, recognisable values."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self, agent_id: str) -> str:
        token = f"hvt.canary-{len(self.issued)}-{abs(hash(agent_id)):x}"
        self.issued.append(token)
        return token


def make_pool(kubeconfig: Path, controller_id: str, tokens: Tokens) -> KubernetesAgentPool:
    return KubernetesAgentPool(
        controller_id=controller_id,
        namespace=NS,
        image="openhive/agent:0.1.0",
        gateway_url="http://gateway.openhive.svc.cluster.local:8080",
        issue_token=tokens,
        kubeconfig=str(kubeconfig),
        reconcile_s=3600,  # the tests call reconcile() themselves
    )


@pytest.fixture
async def pool_factory(
    gateway_kubeconfig: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    """Pools of this test (controller `ctl-<test>` unless named), closed after it."""
    made: list[KubernetesAgentPool] = []
    default = "ctl-" + request.node.name.removeprefix("test_")[:40].replace("_", "-")

    async def make(
        agents: list[str], controller_id: str = default, tokens: Tokens | None = None
    ) -> KubernetesAgentPool:
        pool = make_pool(gateway_kubeconfig, controller_id, tokens or Tokens())
        made.append(pool)
        await pool.start([_agent(a) for a in agents])
        return pool

    yield make
    for pool in made:
        await pool.close()


def get(cluster: KubeCluster, kind: str, name: str) -> dict[str, Any] | None:
    """An object as the admin sees it, None when absent."""
    done = cluster.kubectl("-n", NS, "get", kind, name, "-o", "json", check=False)
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return None
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def wait_gone(cluster: KubeCluster, kind: str, name: str) -> None:
    cluster.wait_for(lambda: get(cluster, kind, name), lambda o: o is None, READY_S, f"{kind} gone")


async def until(check: Any, what: str, timeout_s: float = READY_S) -> Any:
    """Await `check()` until it is truthy (a deadline poll, not a sleep)."""
    return await await_for(what, check, timeout_s)


# -- created as specified, admitted, followed --------------------------------------------


async def test_an_agent_gets_a_pod_a_service_and_a_token_secret_admitted_as_restricted(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    agent_id = "Keeper@team.example:42_x"
    tokens = Tokens()
    pool = await pool_factory([agent_id], tokens=tokens)
    name = object_name(agent_id)
    pod, service, secret = (get(kube_cluster, k, name) for k in ("pod", "service", "secret"))
    assert pod and service and secret
    for obj in (pod, service, secret):
        annotations = obj["metadata"]["annotations"]
        assert annotations[AGENT_ID_ANNOTATION] == agent_id  # exact, though no label could be
        assert annotations[CONTROLLER_ANNOTATION] == pool.controller_id
        assert obj["metadata"]["labels"][MANAGED_BY[0]] == MANAGED_BY[1]
    # The spec the API server stored is the one the pool asked for (after its defaulting).
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    assert not any(v.get("projected") for v in spec.get("volumes", []))  # no SA token at all
    (container,) = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HIVE_AGENT_TOKEN"] == {
        "name": "HIVE_AGENT_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}},
    }
    # The token is in its Secret, nowhere in the Pod; the Secret is the Pod's (garbage
    # collected with it).
    (token,) = tokens.issued
    assert base64.b64decode(secret["data"]["token"]).decode() == token
    assert token not in json.dumps(pod)
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", name, pod["metadata"]["uid"])
    assert service["spec"]["selector"] == {AGENT_LABEL: name}
    assert pod["metadata"]["labels"][AGENT_LABEL] == name
    # Readiness is followed: kwok reports the Pod Ready, the pool sees it; the runtime is
    # reached through the Service's DNS name.
    await until(lambda: pool.pod_ready(agent_id), "the agent Pod Ready")
    runtime = pool.runtime(agent_id)
    assert runtime is not None
    assert runtime.base_url == base_url(agent_id, NS) == f"http://{name}.{NS}.svc:8090"


async def test_health_needs_the_pods_ready_condition_and_the_runtimes_answer(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    pool = await pool_factory(["health-probe"])
    assert not await pool.pod_ready("no-such-agent")  # no Pod: not ready
    runtime = pool.runtime("health-probe")
    assert runtime is not None
    await until(lambda: pool.pod_ready("health-probe"), "Ready")
    # Ready, but its /healthz (behind cluster DNS this host cannot resolve; kwok runs no
    # process) does not answer: health is both, so the agent is not healthy.
    assert await runtime.health() is None


def _dry_run_objects(agent_id: str) -> list[dict[str, Any]]:
    pod = pod_manifest(
        Inputs(
            agent_id=agent_id,
            controller_id="gw-hypothesis",
            image="openhive/agent:0.1.0",
            config_json=json.dumps({"agent_id": agent_id}),
            gateway_url="http://gateway.openhive.svc.cluster.local:8080",
        )
    )
    return [
        pod,
        service_manifest(agent_id, "gw-hypothesis"),
        secret_manifest(agent_id, "gw-hypothesis", "hvt.x", "00000000-0000-0000-0000-000000000000"),
    ]


async def _dry_run_create(kubeconfig: Path, agent_ids: list[str]) -> None:
    api = await api_client(str(kubeconfig))
    try:
        core = CoreV1Api(api)
        create = {
            "Pod": core.create_namespaced_pod,
            "Service": core.create_namespaced_service,
            "Secret": core.create_namespaced_secret,
        }
        for agent_id in agent_ids:
            for obj in _dry_run_objects(agent_id):
                # Server-side dry run: validation, every admission plugin, RBAC; nothing stored.
                await create[obj["kind"]](NS, cast(Any, obj), dry_run="All")
    finally:
        await api.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ids=st.lists(st.one_of(REGISTRY_IDS, st.text(min_size=1, max_size=300)), min_size=1))
def test_hostile_agent_ids_make_objects_the_api_server_admits(
    gateway_kubeconfig: Path, ids: list[str]
) -> None:
    asyncio.run(_dry_run_create(gateway_kubeconfig, ids[:4]))


# -- reconciliation ----------------------------------------------------------------------


def _foreign(agent_id: str, controller: str | None, name: str | None = None) -> list[str]:
    """A Pod and a Service as another controller (or a person, without annotations) made them."""
    out = []
    for obj in _dry_run_objects(agent_id)[:2]:
        meta = obj["metadata"]
        meta["name"] = name or meta["name"]
        if controller is None:
            meta.pop("annotations")
        else:
            meta["annotations"][CONTROLLER_ANNOTATION] = controller
        out.append(json.dumps(obj))
    return out


async def test_reconciliation_creates_what_is_missing_and_deletes_only_its_own_orphans(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    # Objects with the pool's label that are not its own: another gateway's (one of them for
    # an agent id this pool also manages), and a hand-made pair without annotations.
    for doc in (
        *_foreign("theirs", "another-gateway"),
        *_foreign("rec-kept", "another-gateway", name="agent-rec-kept-other"),
        *_foreign("hand", None, name="agent-hand-made"),
    ):
        kube_cluster.kubectl("-n", NS, "create", "-f", "-", input=doc)
    first = await pool_factory(["rec-kept", "rec-gone"], controller_id="ctl-reconcile")
    gone = object_name("rec-gone")
    assert get(kube_cluster, "pod", gone) and get(kube_cluster, "service", gone)
    await first.close()

    # The next gateway of the same controller no longer has `rec-gone`.
    second = await pool_factory(["rec-kept"], controller_id="ctl-reconcile")
    for kind in ("pod", "service", "secret"):
        wait_gone(kube_cluster, kind, gone)  # the Secret by the garbage collector
    for kind in ("pod", "service"):
        for name in (object_name("theirs"), "agent-rec-kept-other", "agent-hand-made"):
            assert get(kube_cluster, kind, name), (kind, name)
    kept = object_name("rec-kept")
    # Its own Pod from the earlier process came back with a fresh token (that one is lost).
    await until(_recreated(second, "rec-kept"), "rec-kept's Pod re-created")
    # What goes missing is created again on the next pass; others' objects stay.
    kube_cluster.kubectl("-n", NS, "delete", "service", kept)
    await second.reconcile()
    assert get(kube_cluster, "service", kept)
    assert get(kube_cluster, "pod", object_name("theirs"))


def _recreated(pool: KubernetesAgentPool, agent_id: str) -> Any:
    async def check() -> bool:
        # The Pod deleted for its lost token may still be terminating: reconcile until the
        # pool holds a fresh one.
        await pool.reconcile()
        return pool.runtime(agent_id) is not None

    return check


async def test_another_controllers_pod_for_the_same_agent_is_never_deleted(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    agent_id = "shared-id"
    for doc in _foreign(agent_id, "the-other-gateway"):
        kube_cluster.kubectl("-n", NS, "create", "-f", "-", input=doc)
    name = object_name(agent_id)
    uid = get(kube_cluster, "pod", name)["metadata"]["uid"]  # type: ignore[index]
    pool = await pool_factory([agent_id])
    await pool.reconcile()
    pod = get(kube_cluster, "pod", name)
    assert pod and pod["metadata"]["uid"] == uid
    assert pod["metadata"]["annotations"][CONTROLLER_ANNOTATION] == "the-other-gateway"
    assert pool.runtime(agent_id) is None  # not ours: the pool does not pretend to run it


async def test_removing_an_agent_deletes_its_pod_service_and_secret(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    pool = await pool_factory(["to-remove"])
    name = object_name("to-remove")
    assert get(kube_cluster, "secret", name)
    await pool.remove("to-remove")
    for kind in ("pod", "service", "secret"):
        wait_gone(kube_cluster, kind, name)
    assert pool.runtime("to-remove") is None


# -- the gateway's RBAC: this and no more -------------------------------------------------


async def test_the_gateway_identity_is_refused_everything_else(
    kube_cluster: KubeCluster, pool_factory: Any
) -> None:
    pool = await pool_factory([])
    core = pool.core
    kube_cluster.kubectl(
        "-n", NS, "create", "secret", "generic", "bystander", "--from-literal=k=v", check=False
    )
    refused = [
        core.list_namespaced_secret(NS),  # it writes token Secrets, it never reads one
        core.read_namespaced_secret("bystander", NS),
        core.list_namespaced_pod("hive-sandbox"),
        core.list_namespaced_pod("openhive"),
        core.list_namespaced_config_map(NS),
        core.list_node(),
        core.create_namespaced_pod(
            "hive-sandbox", cast(Any, _dry_run_objects("elsewhere")[0]), dry_run="All"
        ),
        core.patch_namespaced_service(object_name("x"), NS, {"metadata": {"labels": {"a": "b"}}}),
        core.replace_namespaced_secret("bystander", NS, cast(Any, _dry_run_objects("x")[2])),
    ]
    for call in refused:
        with pytest.raises(ApiException) as exc:
            await call
        assert exc.value.status == 403, exc.value
    # …and the same identity may do its job: list its Pods and Services.
    await core.list_namespaced_pod(NS)
    await core.list_namespaced_service(NS)


@pytest.fixture(autouse=True, scope="module")
def _clean_namespace(kube_cluster: KubeCluster) -> Iterator[None]:
    yield
    kube_cluster.kubectl(
        "-n", NS, "delete", "pods,services,secrets", "--all", "--wait=false", check=False
    )


# -- the same through the gateway's composition root ---------------------------------------


def test_the_agents_api_over_the_kubernetes_pool_creates_and_deletes_the_objects(
    kube_cluster: KubeCluster,
    gateway_kubeconfig: Path,
    database_url: str,
    agent_sandbox: Any,
    agent_model: Any,
    tmp_path: Path,
) -> None:
    """`HIVE_CONTAINER_RUNTIME_BACKEND=kubernetes` in a real gateway: /api/agents creates the
    agent's Pod, Service and token Secret (a real agent token, never in the Pod spec);
    deleting the agent deletes them."""
    gw = start_gateway(
        database_url,
        agent_sandbox,
        agent_model,
        tmp_path / "gw",
        "local",
        HIVE_POOL_BACKEND="container",
        HIVE_CONTAINER_RUNTIME_BACKEND="kubernetes",
        HIVE_CONTROLLER_ID="gw-kube-e2e",
        KUBECONFIG=str(gateway_kubeconfig),
    )
    try:
        operator = gw.login()
        ws = tmp_path / "ws"
        ws.mkdir()
        project = operator.post("/api/projects", json={"name": "kube", "workspace_path": str(ws)})
        body = {"project_id": project.json()["project_id"], "role": "scout", "model": MODEL}
        created = operator.post("/api/agents", json=body)
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["pool"] == "kubernetes"
        name = object_name(agent["agent_id"])
        pod = kube_cluster.wait_for(
            lambda: get(kube_cluster, "pod", name), bool, READY_S, "the agent's Pod"
        )
        assert pod["metadata"]["annotations"][CONTROLLER_ANNOTATION] == "gw-kube-e2e"
        secret = get(kube_cluster, "secret", name)
        assert secret is not None
        token = base64.b64decode(secret["data"]["token"]).decode()
        assert token.startswith("hvt.") and token not in json.dumps(pod)
        # Its runtime never answers here (kwok runs no process): the agent is not ready.
        view = operator.get(f"/api/agents/{agent['agent_id']}").json()
        assert view["status"] == "starting" and view["health"] is None
        assert operator.delete(f"/api/agents/{agent['agent_id']}").status_code in (200, 204)
        for kind in ("pod", "service", "secret"):
            wait_gone(kube_cluster, kind, name)
    finally:
        gw.stop()
