"""Agent pool settings: which pool, who controls it, how agents reach the gateway."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import msgspec

from hive.contracts.settings import Environment, SettingsError

PoolBackend = Literal["local", "container"]
ContainerRuntime = Literal["local_subprocess", "kubernetes"]


class AgentPoolSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Read once from the environment by the composition root."""

    pool_backend: PoolBackend = "local"
    """HIVE_POOL_BACKEND: local (agents in the gateway) or container."""
    container_runtime: ContainerRuntime | None = None
    """HIVE_CONTAINER_RUNTIME_BACKEND: required with HIVE_POOL_BACKEND=container."""
    controller_id: str
    """HIVE_CONTROLLER_ID: this gateway's identity as the owner of agent runtimes
    (default: derived from host name and HIVE_WORKSPACE, stable across restarts)."""
    agent_gateway_url: str
    """HIVE_AGENT_GATEWAY_URL: how agent runtimes reach this gateway (relay, internal API);
    default http://127.0.0.1:$HIVE_GATEWAY_PORT (8080)."""
    silent_after_s: float = 60.0
    """HIVE_AGENT_SILENT_AFTER_S: an agent whose health failed this long is shown `silent`."""
    health_interval_s: float = 5.0
    """HIVE_AGENT_HEALTH_INTERVAL_S: how often runtimes' /healthz are polled."""
    token_ttl_s: int = 86_400
    """HIVE_AGENT_TOKEN_TTL_S: lifetime of an agent runtime's token (a restart gets a new one;
    capped by HIVE_TASK_TOKEN_MAX_TTL_S)."""

    agent_namespace: str = "hive-agents"
    """HIVE_AGENT_NAMESPACE: where the kubernetes pool creates agent Pods and Services."""
    agent_image: str = "openhive/agent:0.1.0"
    """HIVE_AGENT_IMAGE: the agent runtime image of those Pods."""
    kubeconfig: str | None = None
    """KUBECONFIG: outside a cluster, the kubeconfig the kubernetes pool uses; in a cluster
    unset (the mounted ServiceAccount token is used)."""
    agent_confinement: bool = True
    """HIVE_AGENT_CONFINEMENT: start local_subprocess runtimes behind hive-confine (Landlock:
    write only their workspace, connect only to the gateway, bind only their port)."""
    require_agent_confinement: bool = False
    """HIVE_AGENT_REQUIRE_CONFINEMENT: refuse to start a local_subprocess pool without it."""
    scheduler_tick_s: float = 1.0
    """HIVE_SCHEDULER_TICK_S: how often the leader looks for due schedules."""
    scheduler_lease_s: float = 15.0
    """HIVE_SCHEDULER_LEASE_S: the leader lease's lifetime (another gateway takes over
    within this after the leader dies)."""
    data_dir: Path | None = None
    """HIVE_DATA_DIR: `hive dev`'s data dir (database, secrets.json), kept out of reach of
    confined agent runtimes."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgentPoolSettings:
        """Read and validate; SettingsError names the first bad setting."""
        e = Environment(env)
        backend: PoolBackend = e.choice("HIVE_POOL_BACKEND", get_args(PoolBackend), "local")
        runtime: ContainerRuntime | None = None
        if backend == "container":
            if e.raw("HIVE_CONTAINER_RUNTIME_BACKEND") is None:
                raise SettingsError(
                    "HIVE_CONTAINER_RUNTIME_BACKEND",
                    "is required with HIVE_POOL_BACKEND=container (local_subprocess or kubernetes)",
                )
            runtime = e.choice(
                "HIVE_CONTAINER_RUNTIME_BACKEND", get_args(ContainerRuntime), "local_subprocess"
            )
        workspace = os.path.abspath(e.text("HIVE_WORKSPACE", "."))
        seed = f"{socket.gethostname()}\0{workspace}"
        controller = e.text(
            "HIVE_CONTROLLER_ID", "gw-" + hashlib.sha256(seed.encode()).hexdigest()[:12]
        )
        port = e.text("HIVE_GATEWAY_PORT", "8080")
        data_dir = e.optional_text("HIVE_DATA_DIR")
        return cls(
            pool_backend=backend,
            container_runtime=runtime,
            controller_id=controller,
            agent_gateway_url=e.text("HIVE_AGENT_GATEWAY_URL", f"http://127.0.0.1:{port}").rstrip(
                "/"
            ),
            silent_after_s=e.number("HIVE_AGENT_SILENT_AFTER_S", 60.0, above=0),
            health_interval_s=e.number("HIVE_AGENT_HEALTH_INTERVAL_S", 5.0, above=0),
            token_ttl_s=e.integer("HIVE_AGENT_TOKEN_TTL_S", 86_400, above=0),
            agent_namespace=e.text("HIVE_AGENT_NAMESPACE", "hive-agents"),
            agent_image=e.text("HIVE_AGENT_IMAGE", "openhive/agent:0.1.0"),
            kubeconfig=e.optional_text("KUBECONFIG"),
            agent_confinement=e.flag("HIVE_AGENT_CONFINEMENT", True),
            require_agent_confinement=e.flag("HIVE_AGENT_REQUIRE_CONFINEMENT", False),
            scheduler_tick_s=e.number("HIVE_SCHEDULER_TICK_S", 1.0, above=0),
            scheduler_lease_s=e.number("HIVE_SCHEDULER_LEASE_S", 15.0, above=0),
            data_dir=Path(data_dir).absolute() if data_dir else None,
        )
