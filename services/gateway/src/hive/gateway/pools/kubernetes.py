"""The kubernetes pool (kubernetes-asyncio): one Pod plus one Service per agent in
`hive-agents`, reached through the Service's DNS name.

Objects and the reconciliation rules are in `kubernetes_objects`; this module
talks to the API server: reconcile on start and every `reconcile_s`, readiness
from the Pod's Ready condition and then the runtime's /healthz. The gateway's
ServiceAccount needs exactly get/list/watch/create/delete on pods and services
and create/delete on secrets, in the agents' namespace only
(infra/k8s/base/gateway-rbac.yaml; tests/agents/test_kubernetes_pool.py runs this
pool against a real API server with exactly that identity).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, cast

import httpx
import msgspec
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from hive.gateway.agents.registry import AgentRecord
from hive.gateway.pools.base import HttpAgentRuntime
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
    selector,
    service_manifest,
)

log = logging.getLogger("hive.gateway.pools.kubernetes")

TokenIssuer = Callable[[str], str]


async def api_client(kubeconfig: str | None) -> client.ApiClient:
    """In-cluster credentials (the mounted ServiceAccount token), else a kubeconfig."""
    if kubeconfig is None:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


class KubernetesRuntime(HttpAgentRuntime):
    """An agent Pod behind its Service; health also needs the Pod's Ready condition."""

    def __init__(self, pool: KubernetesAgentPool, agent_id: str, credential: str) -> None:
        super().__init__(base_url(agent_id, pool.namespace), credential, pool.http)
        self.pool = pool
        self.agent_id = agent_id

    async def health(self) -> dict[str, Any] | None:
        """/healthz once the Pod reports Ready (None before)."""
        if not await self.pool.pod_ready(self.agent_id):
            return None
        return await super().health()


class KubernetesAgentPool:
    """Agents as Pods."""

    name = "kubernetes"

    def __init__(
        self,
        *,
        controller_id: str,
        namespace: str,
        image: str,
        gateway_url: str,
        issue_token: TokenIssuer,
        kubeconfig: str | None = None,
        reconcile_s: float = 30.0,
    ) -> None:
        self.controller_id = controller_id
        self.namespace = namespace
        self.image = image
        self.gateway_url = gateway_url
        self.issue_token = issue_token
        self.kubeconfig = kubeconfig
        self.reconcile_s = reconcile_s
        self.http = httpx.AsyncClient()
        self._api: client.ApiClient | None = None
        self._agents: dict[str, AgentRecord] = {}
        self._tokens: dict[str, str] = {}
        self._loop: asyncio.Task[None] | None = None

    @property
    def core(self) -> client.CoreV1Api:
        """The core API (after start)."""
        assert self._api is not None, "pool not started"
        return client.CoreV1Api(self._api)

    async def start(self, agents: list[AgentRecord]) -> None:
        """Connect, reconcile once, then reconcile periodically."""
        self._api = await api_client(self.kubeconfig)
        self._agents = {a.agent_id: a for a in agents}
        await self.reconcile()
        self._loop = asyncio.create_task(self._reconcile_forever(), name="k8s-reconcile")

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_s)
            try:
                await self.reconcile()
            except (ApiException, OSError) as exc:
                log.warning("reconciliation failed (retrying): %s", exc)

    async def _existing(self) -> list[Existing]:
        pods = await self.core.list_namespaced_pod(self.namespace, label_selector=selector())
        services = await self.core.list_namespaced_service(
            self.namespace, label_selector=selector()
        )
        out = [
            Existing(kind, o.metadata.name, dict(o.metadata.annotations or {}))
            for kind, items in (("Pod", pods.items), ("Service", services.items))
            for o in items
        ]
        for o in pods.items:  # a Pod of ours not created in this process needs a fresh token
            annotations = o.metadata.annotations or {}
            agent_id = annotations.get(AGENT_ID_ANNOTATION)
            if annotations.get(CONTROLLER_ANNOTATION) != self.controller_id:
                continue  # another controller's (or a hand-made) Pod: never ours to delete
            if agent_id in self._agents and agent_id not in self._tokens:
                out = [e for e in out if not (e.kind == "Pod" and e.name == o.metadata.name)]
                await self._delete("Pod", o.metadata.name)
        return out

    async def reconcile(self) -> None:
        """Create what is missing, delete only our objects whose agent is gone."""
        todo = plan(self._agents, await self._existing(), self.controller_id)
        for kind, name in todo.delete:
            await self._delete(kind, name)
        for kind, agent_id in todo.create:
            await self._create(kind, self._agents[agent_id])

    async def _create(self, kind: str, agent: AgentRecord) -> None:
        try:
            if kind == "Service":
                await self.core.create_namespaced_service(
                    # The client serialises plain dicts as they are (no model round trip).
                    self.namespace,
                    cast(Any, service_manifest(agent.agent_id, self.controller_id)),
                )
                return
            token = self.issue_token(agent.agent_id)
            body = pod_manifest(
                PodSpecInputs(
                    agent_id=agent.agent_id,
                    controller_id=self.controller_id,
                    image=self.image,
                    config_json=msgspec.json.encode(agent.config).decode(),
                    gateway_url=self.gateway_url,
                )
            )
            pod = await self.core.create_namespaced_pod(self.namespace, cast(Any, body))
            # The Pod first: the Secret is owned by it (its uid), and the kubelet holds the
            # container back until the Secret it references exists.
            await self._put_token(agent.agent_id, token, pod.metadata.uid)
            self._tokens[agent.agent_id] = token
        except ApiException as exc:
            if exc.status != 409:  # 409: it exists (ours from a moment ago, or another's)
                raise
            log.warning("%s of agent %s exists already: %s", kind, agent.agent_id, exc.reason)

    async def _put_token(self, agent_id: str, token: str, pod_uid: str) -> None:
        """The token Secret of this Pod; one of an earlier Pod (not yet collected) replaced."""
        body = cast(Any, secret_manifest(agent_id, self.controller_id, token, pod_uid))
        for _ in range(3):
            try:
                await self.core.create_namespaced_secret(self.namespace, body)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
            # Only delete is granted (no get/update: the gateway never reads a Secret).
            await self._delete("Secret", object_name(agent_id))
        raise RuntimeError(f"the token Secret of agent {agent_id} could not be written")

    async def _delete(self, kind: str, name: str) -> None:
        delete = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Secret": self.core.delete_namespaced_secret,
        }[kind]
        try:
            await delete(name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:  # gone already is what we wanted
                raise

    async def pod_ready(self, agent_id: str) -> bool:
        """The Pod's Ready condition."""
        try:
            pod = await self.core.read_namespaced_pod(object_name(agent_id), self.namespace)
        except ApiException:
            return False
        conditions = (pod.status.conditions if pod.status else None) or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    async def ensure(self, agent: AgentRecord) -> None:
        """Create the agent's Service and Pod if missing."""
        self._agents[agent.agent_id] = agent
        await self.reconcile()

    async def remove(self, agent_id: str) -> None:
        """Delete the agent's Pod, Service and token Secret."""
        self._agents.pop(agent_id, None)
        self._tokens.pop(agent_id, None)
        name = object_name(agent_id)
        for kind in ("Pod", "Service", "Secret"):
            await self._delete(kind, name)

    def runtime(self, agent_id: str) -> KubernetesRuntime | None:
        """The handle of a managed agent."""
        token = self._tokens.get(agent_id)
        if agent_id not in self._agents or token is None:
            return None
        return KubernetesRuntime(self, agent_id, token)

    async def close(self) -> None:
        """Stop reconciling (Pods keep running: they belong to the cluster, not this process)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        await self.http.aclose()
        if self._api is not None:
            await self._api.close()
