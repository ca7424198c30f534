"""The Kubernetes manifests against the spec's role table and Kubernetes mapping."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.infra.manifests import (
    BASE,
    K8S,
    OVERLAY,
    SECRETS_EXAMPLE,
    Obj,
    all_containers,
    container,
    env,
    env_values,
    find,
    load_file,
    manifest_files,
    mounts,
    pod_spec,
    workloads,
)

# The spec's role table: workload, namespace, port, probe path, writable paths.
ROLES = {
    "gateway": ("openhive", 8080, "/healthz"),
    "dashboard": ("openhive", 3000, "/dashboard-healthz"),
    "agent": ("hive-agents", 8090, "/healthz"),
    "sandbox": ("hive-sandbox", 8091, "/healthz"),
}
WRITABLE_BASE = {
    "gateway": set(),
    "dashboard": set(),
    "agent": {"/data/config"},
    "sandbox": {"/sandbox/commands", "/sandbox/tasks", "/tmp", "/home/codex"},
}
# The full gateway is ready only while its database answers (/readyz); alive on /healthz.
READINESS = {("overlay", "gateway"): "/readyz"}
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to fit


def renders(base: list[Obj], overlay: list[Obj]) -> dict[str, list[Obj]]:
    return {"base": base, "overlay": overlay}


def test_every_manifest_file_parses_into_named_objects() -> None:
    files = manifest_files()
    assert BASE / "kustomization.yaml" in files and OVERLAY / "kustomization.yaml" in files
    for path in files:
        docs = load_file(path)
        assert docs, f"{path} is empty"
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), path
            if doc["kind"] not in ("Kustomization", "Component"):
                assert doc["metadata"]["name"], path


@pytest.mark.parametrize("which", ["base", "overlay", "secrets-example"])
def test_rendered_objects_are_valid_kubernetes(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    objs = {"base": base, "overlay": overlay}.get(which) or load_file(SECRETS_EXAMPLE)
    for obj in objs:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_schema_validation_rejects_a_misspelt_field(base: list[Obj]) -> None:
    deployment = find(base, "Deployment", "sandbox")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("which", ["base", "overlay"])
@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_port_probes_and_namespace(
    base: list[Obj], overlay: list[Obj], which: str, role: str
) -> None:
    namespace, port, probe = ROLES[role]
    objs = renders(base, overlay)[which]
    spec = pod_spec(find(objs, "Deployment", role, namespace))
    c = container(spec, role)
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert list(named.values()) == [port]
    probes = [k for k in ("readinessProbe", "livenessProbe", "startupProbe") if k in c]
    assert {"readinessProbe", "livenessProbe"} <= set(probes)
    for kind in probes:
        get = c[kind]["httpGet"]
        assert (
            get["path"] == READINESS.get((which, role), probe)
            if kind == "readinessProbe"
            else probe
        ), kind
        assert named.get(get["port"], get["port"]) == port, kind
    service = find(objs, "Service", role, namespace)
    (sp,) = service["spec"]["ports"]
    assert sp["port"] == port and named.get(sp["targetPort"], sp["targetPort"]) == port
    assert service["spec"]["selector"].items() <= spec_labels(objs, role, namespace).items()


def spec_labels(objs: list[Obj], role: str, namespace: str) -> dict[str, str]:
    return dict(find(objs, "Deployment", role, namespace)["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_writable_paths_are_exactly_the_spec_emptydirs(base: list[Obj], role: str) -> None:
    namespace = ROLES[role][0]
    spec = pod_spec(find(base, "Deployment", role, namespace))
    c = container(spec, role)
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    m = mounts(spec, c)
    assert set(m) == WRITABLE_BASE[role]
    assert all("emptyDir" in v for v in m.values())


def test_full_runtime_adds_data_hive_and_the_workspace_mount_as_emptydirs(
    overlay: list[Obj],
) -> None:
    spec = pod_spec(find(overlay, "Deployment", "gateway", "openhive"))
    c = container(spec, "gateway")
    m = mounts(spec, c)
    token_dir = "/var/run/secrets/kubernetes.io/serviceaccount"  # read-only, projected
    assert set(m) == {"/data/hive", "/data/hive/workspaces", token_dir}
    assert all("emptyDir" in v for path, v in m.items() if path != token_dir)
    (token_mount,) = [x for x in c["volumeMounts"] if x["mountPath"] == token_dir]
    assert token_mount["readOnly"] is True
    # HIVE_WORKSPACE is its own volume: the one to swap for a claim holding the repos.
    assert env_values(c)["HIVE_WORKSPACE"] == "/data/hive/workspaces"


def test_apply_back_relays_to_the_gateway_with_one_shared_token(overlay: list[Obj]) -> None:
    sandbox_spec = pod_spec(find(overlay, "Deployment", "sandbox", "hive-sandbox"))
    sandbox = container(sandbox_spec, "sandbox")
    gateway = container(pod_spec(find(overlay, "Deployment", "gateway", "openhive")), "gateway")
    url = urlsplit(env_values(sandbox)["HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL"])
    assert url.hostname == "gateway.openhive.svc.cluster.local" and url.port == 8080
    assert url.path == "/internal/workspace-apply"
    assert not url.query and not url.username
    sandbox_ref = env(sandbox)["HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN"]["valueFrom"]
    gateway_ref = env(gateway)["HIVE_WORKSPACE_APPLY_RELAY_TOKEN"]["valueFrom"]
    assert sandbox_ref["secretKeyRef"] == gateway_ref["secretKeyRef"]
    assert "optional" not in gateway_ref["secretKeyRef"]
    # The sandbox must never think it sees a workspace: a same-named path of its own
    # would get the patch applied there (silently) instead of relayed to the gateway.
    workspace = env_values(gateway)["HIVE_WORKSPACE"]
    for path in mounts(sandbox_spec, sandbox):
        assert not workspace.startswith(path.rstrip("/") + "/") and path != workspace, path
        assert not path.startswith(workspace), path


def test_the_base_sandbox_has_no_apply_relay(base: list[Obj]) -> None:
    c = container(pod_spec(find(base, "Deployment", "sandbox", "hive-sandbox")), "sandbox")
    assert "HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL" not in env(c)


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_every_container_is_locked_down_and_sized(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    objs = renders(base, overlay)[which]
    seen = 0
    for w in workloads(objs):
        spec = pod_spec(w)
        where = f"{w['kind']}/{w['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, where
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
        for c in all_containers(spec):
            seen += 1
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (where, c["name"])
            assert sc["readOnlyRootFilesystem"] is True, (where, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (where, c["name"])
            assert "add" not in sc["capabilities"] and not sc.get("privileged"), where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), (where, c["name"], bound)
        for v in spec.get("volumes", []):
            assert "hostPath" not in v, where
    assert seen >= (5 if which == "base" else 7)


def test_namespaces_enforce_the_restricted_pod_security_profile(base: list[Obj]) -> None:
    namespaces = {o["metadata"]["name"]: o for o in base if o["kind"] == "Namespace"}
    assert set(namespaces) == {"openhive", "hive-agents", "hive-sandbox"}
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_images_are_the_role_images_at_a_fixed_tag(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    for w in workloads(renders(base, overlay)[which]):
        for c in all_containers(pod_spec(w)):
            repo, _, tag = c["image"].rpartition(":")
            assert repo in {f"openhive/{r}" for r in ROLES}, c["image"]
            assert tag and tag != "latest", c["image"]


def test_base_gateway_is_the_minimal_app_without_secrets(base: list[Obj]) -> None:
    c = container(pod_spec(find(base, "Deployment", "gateway", "openhive")), "gateway")
    assert c["command"] == ["hive", "serve", "gateway-minimal", "--host", "0.0.0.0"]
    assert all("valueFrom" not in e for e in env(c).values())


def test_overlay_runs_the_full_gateway_with_strict_check_mode(overlay: list[Obj]) -> None:
    spec = pod_spec(find(overlay, "Deployment", "gateway", "openhive"))
    c = container(spec, "gateway")
    assert c["command"] == ["hive", "serve", "gateway", "--host", "0.0.0.0"]
    values = env_values(c)
    assert values["HIVE_STRICT_STARTUP"] == "true"
    assert values["HIVE_STARTUP_MIGRATION_MODE"] == "check"
    assert values["HIVE_METADATA_CREATE_ON_STARTUP"] == "false"
    assert values["HIVE_WORKSPACE"].startswith("/data/hive")
    required = {
        "DATABASE_URL",
        "DASHBOARD_SESSION_SECRET",
        "HIVE_INTERNAL_SECRET",
        "HIVE_WORKSPACE",
    }
    assert required <= set(env(c))
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


def test_overlay_migrates_with_a_job_and_the_gateway_waits_for_it(overlay: list[Obj]) -> None:
    job = find(overlay, "Job", "openhive-migrate", "openhive")
    spec = pod_spec(job)
    (c,) = spec["containers"]
    assert c["command"] == ["hive", "db", "upgrade"]
    assert c["image"].startswith("openhive/gateway:")
    assert "secretKeyRef" in env(c)["DATABASE_URL"]["valueFrom"]
    assert spec["restartPolicy"] in ("OnFailure", "Never")
    gateway = pod_spec(find(overlay, "Deployment", "gateway", "openhive"))
    wait = container(gateway, "wait-for-schema")
    assert "hive db check" in " ".join(wait["command"])


def test_sandbox_runs_codex_with_the_pod_as_boundary(base: list[Obj], overlay: list[Obj]) -> None:
    for objs in (base, overlay):
        c = container(pod_spec(find(objs, "Deployment", "sandbox", "hive-sandbox")), "sandbox")
        values = env_values(c)
        assert values["HIVE_SANDBOX_CODEX_SANDBOX_MODE"] == "danger-full-access"
        assert values["HIVE_SANDBOX_ROOT"] == "/sandbox"
        assert values["HOME"] == "/home/codex"
        assert {"DATABASE_URL", "HIVE_INTERNAL_SECRET"} <= set(env(c))
    relay = container(pod_spec(find(overlay, "Deployment", "sandbox", "hive-sandbox")), "sandbox")
    assert env_values(relay)["HIVE_SANDBOX_CODEX_AUTH_MODE"] == "relay"


def test_agent_env_names_the_gateway_and_its_workspace(base: list[Obj]) -> None:
    c = container(pod_spec(find(base, "Deployment", "agent", "hive-agents")), "agent")
    values = env_values(c)
    assert values["HIVE_WORKSPACE"] == "/data/config"
    assert {"HIVE_GATEWAY_URL", "HIVE_INTERNAL_SECRET"} <= set(env(c))
    assert "secretKeyRef" in env(c)["HIVE_INTERNAL_SECRET"]["valueFrom"]


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_every_in_cluster_url_names_a_service_and_its_port(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    objs = renders(base, overlay)[which]
    services = {
        (o["metadata"]["name"], o["metadata"]["namespace"]): {p["port"] for p in o["spec"]["ports"]}
        for o in objs
        if o["kind"] == "Service"
    }
    checked = 0
    for w in workloads(objs):
        for c in all_containers(pod_spec(w)):
            for name, value in env_values(c).items():
                url = urlsplit(value)
                if url.scheme not in ("http", "https") or ".svc" not in (url.hostname or ""):
                    continue
                svc, ns = url.hostname.split(".")[:2]  # type: ignore[union-attr]
                assert url.port in services.get((svc, ns), set()), f"{name}={value}"
                checked += 1
    assert checked >= 5


def test_dashboard_proxies_to_the_gateway_service(base: list[Obj]) -> None:
    c = container(pod_spec(find(base, "Deployment", "dashboard", "openhive")), "dashboard")
    url = urlsplit(env_values(c)["HIVE_GATEWAY_INTERNAL_URL"])
    assert url.hostname is not None and url.hostname.startswith("gateway.openhive.svc")
    assert url.port == 8080
    assert env_values(c)["PORT"] == "3000"


def test_agent_init_container_copies_defaults_into_the_config_volume(base: list[Obj]) -> None:
    spec = pod_spec(find(base, "Deployment", "agent", "hive-agents"))
    init = container(spec, "config-bootstrap")
    assert init["image"] == container(spec, "agent")["image"]
    assert "/data/config" in mounts(spec, init)
    assert (
        mounts(spec, init)["/data/config"] is mounts(spec, container(spec, "agent"))["/data/config"]
    )
    assert init["command"][0] == "cp" and "-n" in init["command"]
    assert init["command"][-2:] == ["/app/defaults/agent/.", "/data/config/"]


def test_agent_init_copy_keeps_operator_edits(base: list[Obj], tmp_path: Path) -> None:
    """Run the init container's own command on this machine's coreutils (Debian, like the image)."""
    spec = pod_spec(find(base, "Deployment", "agent", "hive-agents"))
    command = container(spec, "config-bootstrap")["command"]
    defaults, config = tmp_path / "defaults", tmp_path / "config"
    (defaults / "sub").mkdir(parents=True)
    (defaults / "README.md").write_text("default readme\n")
    (defaults / "sub" / "new.json").write_text("{}\n")
    config.mkdir()
    (config / "README.md").write_text("operator edit\n")
    argv = [
        a.replace("/app/defaults/agent", str(defaults)).replace("/data/config", str(config))
        for a in command
    ]
    for _ in range(2):  # a restart runs it again over a populated volume
        subprocess.run(argv, check=True, timeout=30)
    assert (config / "README.md").read_text() == "operator edit\n"
    assert (config / "sub" / "new.json").read_text() == "{}\n"


def test_secrets_example_is_outside_every_kustomization(
    base: list[Obj], overlay: list[Obj]
) -> None:
    assert SECRETS_EXAMPLE.name.endswith(".example.yaml")
    for kustomization in K8S.rglob("kustomization.yaml"):
        (k,) = load_file(kustomization)
        listed = [*k.get("resources", []), *(p.get("path", "") for p in k.get("patches", []))]
        assert not any("example" in entry for entry in listed), kustomization
        assert "secretGenerator" not in k, kustomization
    assert not [o for o in [*base, *overlay] if o["kind"] == "Secret"]


def test_pod_security_profile_version_is_pinned(base: list[Obj]) -> None:
    expected = "v" + KUBERNETES_VERSION.rsplit(".", 1)[0]
    for ns in (o for o in base if o["kind"] == "Namespace"):
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == expected
        assert labels["pod-security.kubernetes.io/warn-version"] == expected


def test_images_are_named_in_one_component_used_by_every_kustomization() -> None:
    component = K8S / "components" / "images" / "kustomization.yaml"
    (c,) = load_file(component)
    assert c["kind"] == "Component"
    assert {i["name"] for i in c["images"]} == {f"openhive/{r}" for r in ROLES}
    for kustomization in (BASE / "kustomization.yaml", OVERLAY / "kustomization.yaml"):
        (k,) = load_file(kustomization)
        assert "images" not in k, kustomization
        listed = [(kustomization.parent / entry).resolve() for entry in k["components"]]
        assert component.parent.resolve() in listed, kustomization


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_the_sandbox_waits_for_the_schema_as_the_gateway_does(
    base: list[Obj], overlay: list[Obj], which: str
) -> None:
    spec = pod_spec(find(renders(base, overlay)[which], "Deployment", "sandbox", "hive-sandbox"))
    wait = container(spec, "wait-for-schema")
    assert "until hive db check" in " ".join(wait["command"])
    assert wait["image"] == container(spec, "sandbox")["image"]
    assert "secretKeyRef" in env(wait)["DATABASE_URL"]["valueFrom"]


def test_the_sandbox_requires_confinement(base: list[Obj], overlay: list[Obj]) -> None:
    for objs in (base, overlay):
        c = container(pod_spec(find(objs, "Deployment", "sandbox", "hive-sandbox")), "sandbox")
        assert env_values(c)["HIVE_SANDBOX_REQUIRE_CONFINEMENT"] == "true"


@pytest.mark.parametrize(
    ("role", "namespace"), [("gateway", "openhive"), ("sandbox", "hive-sandbox")]
)
def test_a_disruption_budget_selects_the_role_pods(
    base: list[Obj], role: str, namespace: str
) -> None:
    pdb = find(base, "PodDisruptionBudget", role, namespace)
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert selector.items() <= spec_labels(base, role, namespace).items()
    assert ("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"])


def test_the_gateway_runs_as_its_own_service_account_without_a_mounted_token(
    base: list[Obj],
) -> None:
    spec = pod_spec(find(base, "Deployment", "gateway", "openhive"))
    assert spec["serviceAccountName"] == "gateway"
    account = find(base, "ServiceAccount", "gateway", "openhive")
    assert account["automountServiceAccountToken"] is False
    binding = find(base, "RoleBinding", "gateway-agent-pool", "hive-agents")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "gateway", "namespace": "openhive"}
    ]
    role = find(base, "Role", binding["roleRef"]["name"], "hive-agents")
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {r for r, _ in granted} == {"pods", "services", "secrets"}
    # The agents' token Secrets are written and deleted, never read or rewritten: the
    # gateway cannot see the namespace's other Secrets.
    assert {v for r, v in granted if r == "secrets"} == {"create", "delete"}
    assert not {v for _, v in granted} & {"update", "patch", "deletecollection", "*"}


def test_the_full_runtime_gateway_runs_agents_as_pods_with_its_token_mounted_alone(
    overlay: list[Obj],
) -> None:
    spec = pod_spec(find(overlay, "Deployment", "gateway", "openhive"))
    c = container(spec, "gateway")
    values = env_values(c)
    assert values["HIVE_POOL_BACKEND"] == "container"
    assert values["HIVE_CONTAINER_RUNTIME_BACKEND"] == "kubernetes"
    assert values["HIVE_AGENT_NAMESPACE"] == "hive-agents"
    # Fixed: the default derives from the host name, a Pod's changes with every rollout.
    assert values["HIVE_CONTROLLER_ID"]
    assert urlsplit(values["HIVE_AGENT_GATEWAY_URL"]).hostname == (
        "gateway.openhive.svc.cluster.local"
    )
    # The ServiceAccount token: where in-cluster clients look, in this container only,
    # short-lived and projected (automounting stays off for the pod).
    token_dir = "/var/run/secrets/kubernetes.io/serviceaccount"
    volume = mounts(spec, c)[token_dir]
    sources = volume["projected"]["sources"]
    (token,) = [s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s]
    assert token["path"] == "token" and token["expirationSeconds"] <= 3600
    paths = {i["path"] for s in sources for i in (s.get("configMap") or {}).get("items", [])}
    assert "ca.crt" in paths
    for other in all_containers(spec):
        if other is not c:
            assert token_dir not in mounts(spec, other), other["name"]
    assert spec["automountServiceAccountToken"] is False
