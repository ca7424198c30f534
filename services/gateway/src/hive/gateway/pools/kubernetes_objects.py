"""What the kubernetes pool asks the API server for: names, Pod and Service of one agent,
and the reconciliation plan. Pure functions, so the rules are testable without a cluster.

- **Names** are deterministic and DNS-safe (RFC 1035 labels, at most 63 characters):
  `agent-<slug of the id>-<10 hex of its SHA-256>`. The slug keeps them readable;
  the digest keeps two ids that slug alike (`Keeper_1`, `keeper-1`) apart.
- The **exact** agent id and the controller id live in annotations
  (`openhive.dev/agent-id`, `openhive.dev/controller-id`); labels, which must be
  label-safe, only select (`app.kubernetes.io/managed-by`, `openhive.dev/agent`).
- The Pod's security context is the base manifest's (infra/k8s/base/agent.yaml):
  non-root uid 10001, RuntimeDefault seccomp, no privilege escalation, read-only
  root, every capability dropped — what Pod Security `restricted` admits.
- The agent's **token** is not in the Pod spec: it is the one key of a Secret of the
  same name (`token`), read through `secretKeyRef`. The Secret carries the same
  annotations and an ownerReference to its Pod, so the API server's garbage
  collector deletes it with the Pod (the pool also deletes it with the agent), and
  the gateway needs only create/delete on Secrets, never get/list: it cannot read
  the namespace's other Secrets.
- **Reconciliation** creates what is missing for live agents and deletes only
  objects whose controller annotation is ours and whose agent is gone; an object
  of another controller, or without the annotation, is never touched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

AGENT_ID_ANNOTATION = "openhive.dev/agent-id"
CONTROLLER_ANNOTATION = "openhive.dev/controller-id"
AGENT_LABEL = "openhive.dev/agent"
MANAGED_BY = ("app.kubernetes.io/managed-by", "openhive-gateway")
TOKEN_KEY = "token"
AGENT_PORT = 8090
UID = 10001


def object_name(agent_id: str) -> str:
    """The Pod and Service name of an agent (same id, same name, always)."""
    slug = re.sub(r"[^a-z0-9]+", "-", agent_id.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(agent_id.encode()).hexdigest()[:10]
    return f"agent-{slug}-{digest}" if slug else f"agent-{digest}"


def selector() -> str:
    """The label selector of every object the pool manages."""
    return f"{MANAGED_BY[0]}={MANAGED_BY[1]}"


def _meta(name: str, agent_id: str, controller_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {MANAGED_BY[0]: MANAGED_BY[1], AGENT_LABEL: name},
        "annotations": {AGENT_ID_ANNOTATION: agent_id, CONTROLLER_ANNOTATION: controller_id},
    }


@dataclass(frozen=True, slots=True)
class PodSpecInputs:
    """What varies per agent."""

    agent_id: str
    controller_id: str
    image: str
    config_json: str
    gateway_url: str


def pod_manifest(p: PodSpecInputs) -> dict[str, Any]:
    """One agent runtime Pod (an init step copies the defaults, never over an edit)."""
    name = object_name(p.agent_id)
    container_security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    resources = {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"},
    }
    env = [
        {"name": "HIVE_WORKSPACE", "value": "/data/config"},
        {"name": "HIVE_AGENT_CONFIG_JSON", "value": p.config_json},
        {"name": "HIVE_GATEWAY_URL", "value": p.gateway_url},
        {
            "name": "HIVE_AGENT_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": name, "key": TOKEN_KEY}},
        },
        {"name": "HIVE_CONTROLLER_ID", "value": p.controller_id},
        {"name": "HIVE_DEPLOYMENT_BACKEND", "value": "kubernetes"},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(name, p.agent_id, p.controller_id),
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "restartPolicy": "Always",
            # A runtime stops within seconds (its runs keep their place in their streams);
            # a replaced Pod (a gateway restart re-issues tokens) frees its name sooner.
            "terminationGracePeriodSeconds": 10,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": UID,
                "runAsGroup": UID,
                "fsGroup": UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [
                {
                    "name": "config-bootstrap",
                    "image": p.image,
                    "command": ["cp", "-R", "-n", "/app/defaults/agent/.", "/data/config/"],
                    "securityContext": container_security,
                    "resources": resources,
                    "volumeMounts": [{"name": "config", "mountPath": "/data/config"}],
                }
            ],
            "containers": [
                {
                    "name": "agent",
                    "image": p.image,
                    "command": ["hive", "serve", "agent", "--host", "0.0.0.0"],
                    "ports": [{"name": "http", "containerPort": AGENT_PORT}],
                    "env": env,
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 5,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": "http"},
                        "periodSeconds": 10,
                    },
                    "securityContext": container_security,
                    "resources": resources,
                    "volumeMounts": [{"name": "config", "mountPath": "/data/config"}],
                }
            ],
            "volumes": [{"name": "config", "emptyDir": {"sizeLimit": "1Gi"}}],
        },
    }


def service_manifest(agent_id: str, controller_id: str) -> dict[str, Any]:
    """The agent's Service: its stable DNS name in front of the Pod."""
    name = object_name(agent_id)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, agent_id, controller_id),
        "spec": {
            "selector": {AGENT_LABEL: name},
            "ports": [{"name": "http", "port": AGENT_PORT, "targetPort": "http"}],
        },
    }


def secret_manifest(agent_id: str, controller_id: str, token: str, pod_uid: str) -> dict[str, Any]:
    """The agent's token Secret, owned by its Pod (deleted with it by the garbage collector)."""
    name = object_name(agent_id)
    meta = _meta(name, agent_id, controller_id)
    meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "name": name, "uid": pod_uid}]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def base_url(agent_id: str, namespace: str) -> str:
    """The runtime's URL through its Service's cluster DNS name."""
    return f"http://{object_name(agent_id)}.{namespace}.svc:{AGENT_PORT}"


@dataclass(frozen=True, slots=True)
class Existing:
    """An object found in the namespace (kind Pod or Service)."""

    kind: str
    name: str
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Plan:
    """What reconciliation does."""

    create: list[tuple[str, str]]
    """(kind, agent_id) to create."""
    delete: list[tuple[str, str]]
    """(kind, name) to delete."""


def plan(live_agents: Iterable[str], existing: Iterable[Existing], controller_id: str) -> Plan:
    """Create the missing Pod/Service of every live agent; delete only our orphans."""
    live = set(live_agents)
    have: set[tuple[str, str]] = set()
    delete: list[tuple[str, str]] = []
    for obj in existing:
        agent_id = obj.annotations.get(AGENT_ID_ANNOTATION)
        owner = obj.annotations.get(CONTROLLER_ANNOTATION)
        if owner != controller_id or agent_id is None:
            continue  # not ours: never created, never deleted here
        if agent_id in live and obj.name == object_name(agent_id):
            have.add((obj.kind, agent_id))
        else:
            delete.append((obj.kind, obj.name))
    create = [
        (kind, agent_id)
        for agent_id in sorted(live)
        for kind in ("Service", "Pod")
        if (kind, agent_id) not in have
    ]
    return Plan(create=create, delete=sorted(delete))
