"""`hive dev`: the whole product on one machine.

Embedded PostgreSQL unless DATABASE_URL is set, migrations to head, then each
installed service under granian (sandbox, gateway, and the dashboard when it
is built), each given only the environment its role needs. Ctrl-C (or SIGTERM)
stops the children first, then releases the database.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hive.cli.database import data_dir, database_url
from hive.cli.dev_report import (
    backend_lines,
    dashboard_state,
    line,
    relay_configured,
    remove_record,
    write_record,
)
from hive.cli.serve import granian_argv
from hive.contracts.settings import Environment
from hive.events import migrate
from hive.events.database import redact

GENERATED = (
    "HIVE_INTERNAL_SECRET",
    "DASHBOARD_SESSION_SECRET",
    "HIVE_BOOTSTRAP_ADMIN_PASSWORD",
    "HIVE_CREDENTIAL_KEY",
)
REPO_ROOT = Path(__file__).resolve().parents[3]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `dev` verb."""
    p = sub.add_parser("dev", help="run everything on this machine (embedded PostgreSQL)")
    p.add_argument("--no-dashboard", action="store_true", help="do not start the dashboard")
    p.set_defaults(handler=_dev)


def load_secrets(path: Path) -> dict[str, str]:
    """Secrets from the environment, else from the 0600 file, else newly generated."""
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, str] = {}
    for name in GENERATED:
        out[name] = os.environ.get(name) or stored.get(name) or secrets.token_urlsafe(32)
    keep = {k: v for k, v in out.items() if not os.environ.get(k)} | {
        k: v for k, v in stored.items() if k not in out
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keep, fh, indent=2)
    os.chmod(path, 0o600)
    return out


@dataclass
class Child:
    """One service process started by `hive dev`."""

    name: str
    url: str
    health: str
    proc: subprocess.Popen[bytes]
    env_keys: list[str] = field(default_factory=list)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _base_env() -> dict[str, str]:
    """What every child inherits: the machine basics, never this process's secrets."""
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "HIVE_LOG_LEVEL",
    )
    return {k: os.environ[k] for k in keep if k in os.environ}


GATEWAY_SETTINGS = (
    "HIVE_MODEL_PROVIDERS",
    "HIVE_SANDBOX_WORKSPACE_VISIBILITY",
    "HIVE_METRICS_PUBLIC",
    "HIVE_WORKSPACE_APPLY_RELAY_TOKEN",
    "HIVE_WORKSPACE_APPLY_MAX_BYTES",
)


def gateway_env(common: dict[str, str]) -> dict[str, str]:
    """The gateway's own settings an operator set here, and the vendor keys its providers name.

    A provider's key lives in the env var its `api_key_env` names; it is handed to the
    gateway alone (the only role that may hold vendor keys), never to the sandbox.
    """
    names = list(GATEWAY_SETTINGS)
    try:
        providers = json.loads(os.environ.get("HIVE_MODEL_PROVIDERS") or "[]")
        names += [
            p["api_key_env"] for p in providers if isinstance(p, dict) and p.get("api_key_env")
        ]
    except (ValueError, TypeError):
        pass  # the gateway itself reports a malformed HIVE_MODEL_PROVIDERS at startup
    return {k: os.environ[k] for k in names if k in os.environ and k not in common}


def sandbox_env(common: dict[str, str]) -> dict[str, str]:
    """The sandbox's own settings an operator set here (its relay token reaches no other child).

    The names come from the sandbox's settings loader, so a new HIVE_SANDBOX_* setting
    is forwarded without touching this file; what `hive dev` sets itself wins.
    """
    from hive.sandbox.settings import environment_names

    return {k: os.environ[k] for k in environment_names() if k in os.environ and k not in common}


def _start(
    name: str, argv: list[str], env: dict[str, str], url: str, health: str, log_dir: Path
) -> Child:
    # 0600: a service's log may hold what an operator would not show everyone.
    fd = os.open(log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(log_dir / f"{name}.log", 0o600)
    log = os.fdopen(fd, "ab")
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Child(name, url, health, proc, sorted(env))


def _wait_healthy(child: Child, deadline_s: float = 60.0) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            return False
        try:
            if httpx.get(child.url + child.health, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _stop(children: list[Child]) -> None:
    for c in children:
        if c.proc.poll() is None:
            os.killpg(c.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for c in children:
        try:
            c.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()


def _report(args: argparse.Namespace, children: list[Child], urls: dict[str, str]) -> None:
    """The rest of the picture: dashboard, API pages, Codex, which backends can run."""
    running = {c.name for c in children}
    dashboard = dashboard_state(REPO_ROOT, disabled=args.no_dashboard)
    if dashboard is not None:
        print(line("dashboard", urls["dashboard"], dashboard))
    if "gateway" in running:
        print(line("api", urls["gateway"] + "/schema/swagger", "API reference page"))
        print(line("openapi", urls["gateway"] + "/schema", "the OpenAPI document"))
    if _installed("hive.sandbox.codex.install"):
        from hive.sandbox.codex import install as codex_install

        codex = codex_install.probe(os.environ.get("HIVE_SANDBOX_CODEX_BIN") or None)
        print(f"{'codex':<10} {codex.describe()}")
    if "sandbox" in running:
        try:
            health = httpx.get(urls["sandbox"] + "/healthz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            health = {}
        for text in backend_lines(health, relay=relay_configured(os.environ)):
            print(text)
        if confinement := health.get("confinement"):
            print(f"{'confined':<10} {confinement_line(confinement)}")


def confinement_line(c: dict[str, object]) -> str:
    """One line on what confines governed processes (the sandbox's /healthz block)."""
    if c.get("in_force"):
        return (
            f"governed processes confined (Landlock ABI {c.get('landlock_abi')}: files, TCP "
            f"egress to ports {c.get('egress_ports')}, signals, dies with the sandbox)"
        )
    missing = c.get("missing")
    reasons = missing if isinstance(missing, list) else []
    return f"NOT confined: {'; '.join(map(str, reasons))}"


def _dev(args: argparse.Namespace) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Each line as it happens, also into a pipe or a file (`make dev | tee`, a supervisor).
        sys.stdout.reconfigure(line_buffering=True)
    data = data_dir()
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    secret = load_secrets(data / "secrets.json")
    settings = Environment()
    ports = {
        "gateway": settings.integer("HIVE_GATEWAY_PORT", 8080, minimum=1, maximum=65535),
        "sandbox": settings.integer("HIVE_SANDBOX_PORT", 8091, minimum=1, maximum=65535),
        "dashboard": settings.integer("HIVE_DASHBOARD_PORT", 3000, minimum=1, maximum=65535),
    }
    urls = {k: f"http://127.0.0.1:{v}" for k, v in ports.items()}
    log_dir = data / "logs"
    log_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(log_dir, 0o700)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with database_url() as db:
        migrate.upgrade(db)
        print(line("database", redact(db), f"ready, schema at {migrate.head_revision()}"))
        base = _base_env()
        common = base | {
            "DATABASE_URL": db,
            "HIVE_INTERNAL_SECRET": secret["HIVE_INTERNAL_SECRET"],
            "HIVE_GATEWAY_URL": urls["gateway"],
            "HIVE_SANDBOX_URL": urls["sandbox"],
            "HIVE_WORKSPACE": str(data / "workspace"),
            "HIVE_DATA_DIR": str(data),
        }
        (data / "workspace").mkdir(exist_ok=True)
        children: list[Child] = []
        try:
            if _installed("hive.sandbox.main"):
                # Confinement is required unless the operator says otherwise: a sandbox
                # that cannot confine refuses to start and names what is missing.
                env = (
                    common
                    | {"HIVE_SANDBOX_REQUIRE_CONFINEMENT": "true"}
                    | sandbox_env(common)
                    | {"HIVE_SANDBOX_ROOT": str(data / "sandbox")}
                )
                if os.environ.get("HIVE_SANDBOX_CODEX_AUTH_MODE") == "env":
                    # The operator's documented allowlist: only these keys reach the sandbox.
                    for name in os.environ.get("HIVE_SANDBOX_CODEX_ENV_ALLOWLIST", "").split(","):
                        if name.strip() in os.environ:
                            env[name.strip()] = os.environ[name.strip()]
                children.append(
                    _start(
                        "sandbox",
                        granian_argv("sandbox", "127.0.0.1", ports["sandbox"]),
                        env,
                        urls["sandbox"],
                        "/healthz",
                        log_dir,
                    )
                )
            if _installed("hive.gateway.main"):
                env = (
                    common
                    | gateway_env(common)
                    | {
                        "DASHBOARD_SESSION_SECRET": secret["DASHBOARD_SESSION_SECRET"],
                        "HIVE_CREDENTIAL_KEY": secret["HIVE_CREDENTIAL_KEY"],
                        "HIVE_BOOTSTRAP_ADMIN_PASSWORD": secret["HIVE_BOOTSTRAP_ADMIN_PASSWORD"],
                        "HIVE_STRICT_STARTUP": "false",
                        "HIVE_STARTUP_MIGRATION_MODE": "upgrade",
                        "HIVE_METADATA_CREATE_ON_STARTUP": "false",
                        "HIVE_COOKIE_SECURE": "false",
                        "HIVE_POOL_BACKEND": os.environ.get("HIVE_POOL_BACKEND", "local"),
                    }
                )
                children.append(
                    _start(
                        "gateway",
                        granian_argv("gateway", "127.0.0.1", ports["gateway"]),
                        env,
                        urls["gateway"],
                        "/healthz",
                        log_dir,
                    )
                )
            server_js = REPO_ROOT / "web" / ".next" / "standalone" / "server.js"
            if not args.no_dashboard and server_js.exists():
                env = base | {
                    "PORT": str(ports["dashboard"]),
                    "HOSTNAME": "127.0.0.1",
                    "HIVE_GATEWAY_INTERNAL_URL": urls["gateway"],
                    "NEXT_TELEMETRY_DISABLED": "1",
                }
                children.append(
                    _start(
                        "dashboard",
                        ["node", str(server_js)],
                        env,
                        urls["dashboard"],
                        "/dashboard-healthz",
                        log_dir,
                    )
                )
            for child in children:
                ok = _wait_healthy(child)
                state = "ready" if ok else "NOT READY"
                print(
                    line(
                        child.name, child.url, f"{state}  (log: {log_dir / (child.name + '.log')})"
                    )
                )
                if not ok:
                    print(
                        f"hive dev: {child.name} did not become healthy; see its log",
                        file=sys.stderr,
                    )
                    return 1
            _report(args, children, urls)
            if any(c.name == "gateway" for c in children):
                where = (
                    "from HIVE_BOOTSTRAP_ADMIN_PASSWORD"  # an operator's own: never written down
                    if os.environ.get("HIVE_BOOTSTRAP_ADMIN_PASSWORD")
                    else f"stored in {data / 'secrets.json'}, mode 0600"
                )
                print(f"login: admin / {secret['HIVE_BOOTSTRAP_ADMIN_PASSWORD']}  ({where})")
            if any(c.name == "dashboard" for c in children):
                print(f"open {urls['dashboard']} (the dashboard; the API is same-origin behind it)")
            elif not args.no_dashboard:
                print("dashboard: not built (`make dev` or `make web` builds web/)")
            if not children:
                print("no services are installed yet; the database is ready")
            running = {c.name: c.url for c in children}
            record = write_record(
                data,
                {
                    "data_dir": str(data),
                    "gateway_url": running.get("gateway"),
                    "sandbox_url": running.get("sandbox"),
                    "dashboard_url": running.get("dashboard"),
                },
            )
            print(f"recorded in {record}: `hive demo --data-dir {data}` finds this hive dev")
            print("Ctrl-C stops everything")
            while not stopping:
                dead = [c for c in children if c.proc.poll() is not None]
                if dead:
                    print(
                        f"hive dev: {dead[0].name} exited with {dead[0].proc.returncode}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(0.5)
            return 0
        finally:
            _stop(children)
            remove_record(data)
            print("stopped")
