"""Sandbox settings: one Struct, loaded once from the environment, validated at startup."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import msgspec

from hive.contracts.logs import secret_values
from hive.contracts.settings import Environment, SettingsError
from hive.sandbox.codex.settings import CodexSettings
from hive.sandbox.confinement import DEFAULT_EGRESS_PORTS, DEFAULT_LAUNCHER, ConfinementSettings
from hive.sandbox.workruns.settings import WorkRunSettings

DEFAULT_COMMAND_ALLOWLIST = (
    "git,python,python3,pip,pip3,uv,pytest,node,npm,npx,make,ls,cat,grep,rg,diff,patch,"
    "find,head,tail,wc,sort,uniq,cut,tr,sed,awk,echo,true,false,mkdir,cp,mv,rm,touch,"
    "test,sleep,tar,gzip,ruff,mypy,go,cargo,rustc,java,javac,mvn,gradle,printf,pwd,"
    "basename,dirname,realpath,stat,file,chmod,ln,yes,seq,tee"
)
DEFAULT_REGISTRY_ALLOWLIST = "pypi.org,files.pythonhosted.org,registry.npmjs.org"


DEFAULT_EGRESS_PORTS_CSV = ",".join(str(p) for p in DEFAULT_EGRESS_PORTS)


class SandboxSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything the sandbox reads from its environment."""

    database_url: str | None
    internal_secret: str
    root: Path
    gateway_url: str | None = None
    sandbox_url: str | None = None
    command_allowlist: list[str]
    """HIVE_SANDBOX_COMMAND_ALLOWLIST: program names (or absolute paths) argv[0] may resolve to."""
    registry_allowlist: list[str]
    """HIVE_SANDBOX_REGISTRY_ALLOWLIST: hosts, `*.domain`s or URL prefixes package installs may use."""
    log_cap_bytes: int = 64 * 1024 * 1024
    """HIVE_SANDBOX_LOG_CAP_BYTES: bytes kept per command stream; the rest is counted, not kept."""
    preview_bytes: int = 4096
    """HIVE_SANDBOX_PREVIEW_BYTES: head + tail shown in a CommandStatus preview."""
    kill_grace_s: float = 5.0
    """HIVE_SANDBOX_KILL_GRACE_S: between TERM and KILL of a timed-out or cancelled group."""
    default_timeout_s: float = 1800.0
    """HIVE_SANDBOX_DEFAULT_TIMEOUT_S: timeout of a command that names none."""
    max_memory_bytes: int | None = None
    """HIVE_SANDBOX_MAX_MEMORY_BYTES: RLIMIT_AS of governed commands (unset: no cap)."""
    max_cpu_s: int | None = None
    """HIVE_SANDBOX_MAX_CPU_S: RLIMIT_CPU of governed commands (unset: no cap)."""
    max_open_files: int = 4096
    """HIVE_SANDBOX_MAX_OPEN_FILES: RLIMIT_NOFILE of governed commands."""
    command_settle_s: float = 0.05
    """HIVE_SANDBOX_COMMAND_SETTLE_S: POST /commands waits this long for a command to end."""
    command_sync_commit: bool = True
    """HIVE_SANDBOX_COMMAND_SYNC_COMMIT: wait for the WAL flush of command records (default
    true: a governed command's record is audit data; `false` trades the last few hundred
    ms of records on a database crash for a faster round trip)."""
    coding_backend: str = "codex_cli"
    """HIVE_SANDBOX_CODING_BACKEND: default Work Run backend (a task may name its own)."""
    lease_ttl_s: float = 30.0
    """HIVE_SANDBOX_LEASE_TTL_S: attempt lease; a replica silent this long goes stale."""
    worker_enabled: bool = True
    """HIVE_SANDBOX_WORKER: run the Work Run worker in this replica."""
    token_revocation_cache_s: float = 2.0
    """HIVE_SANDBOX_TOKEN_REVOCATION_CACHE_S: how long a task token's revocation check is
    reused (0 to 10 s): a revoked token is refused at most this long after the row lands."""
    confinement: ConfinementSettings = msgspec.field(default_factory=ConfinementSettings)
    """HIVE_SANDBOX_REQUIRE_CONFINEMENT, HIVE_SANDBOX_CONFINEMENT, HIVE_SANDBOX_CONFINE_BIN,
    HIVE_SANDBOX_EGRESS_PORTS, HIVE_SANDBOX_CONFINE_READ_PATHS: see hive.sandbox.confinement."""
    codex: CodexSettings = msgspec.field(default_factory=CodexSettings)
    workruns: WorkRunSettings = msgspec.field(default_factory=WorkRunSettings)

    def __repr__(self) -> str:
        # The internal secret and the database password must never reach a log line.
        return (
            f"SandboxSettings(root={str(self.root)!r}, coding_backend={self.coding_backend!r}, "
            f"lease_ttl_s={self.lease_ttl_s}, worker_enabled={self.worker_enabled}, "
            f"workruns={self.workruns!r})"
        )

    def secret_values(self, env: Mapping[str, str] | None = None) -> list[str]:
        """What the log redactor must never let out: the internal secret, the database
        password, the relay token and the provider keys Codex may be given (`env` mode)."""
        e = os.environ if env is None else env
        keys = [e.get(name) for name in self.codex.env_allowlist]
        return secret_values(
            self.internal_secret, self.database_url, self.workruns.apply_relay_token, *keys
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read HIVE_SANDBOX_* and friends; SettingsError (a ValueError) names a bad one."""
        e = Environment(env)
        secret = e.optional_text("HIVE_INTERNAL_SECRET")
        if not secret:
            raise SettingsError("HIVE_INTERNAL_SECRET", "is required")
        root = Path(e.text("HIVE_SANDBOX_ROOT", "/sandbox")).absolute()
        return cls(
            database_url=e.optional_text("DATABASE_URL"),
            internal_secret=secret,
            root=root,
            gateway_url=e.optional_text("HIVE_GATEWAY_URL"),
            sandbox_url=e.optional_text("HIVE_SANDBOX_URL"),
            command_allowlist=e.csv("HIVE_SANDBOX_COMMAND_ALLOWLIST", DEFAULT_COMMAND_ALLOWLIST),
            registry_allowlist=e.csv("HIVE_SANDBOX_REGISTRY_ALLOWLIST", DEFAULT_REGISTRY_ALLOWLIST),
            log_cap_bytes=e.integer("HIVE_SANDBOX_LOG_CAP_BYTES", 64 * 1024 * 1024, minimum=0),
            preview_bytes=e.integer("HIVE_SANDBOX_PREVIEW_BYTES", 4096, above=0),
            kill_grace_s=e.number("HIVE_SANDBOX_KILL_GRACE_S", 5.0, minimum=0),
            default_timeout_s=e.number("HIVE_SANDBOX_DEFAULT_TIMEOUT_S", 1800.0, above=0),
            max_memory_bytes=e.optional_integer("HIVE_SANDBOX_MAX_MEMORY_BYTES", above=0),
            max_cpu_s=e.optional_integer("HIVE_SANDBOX_MAX_CPU_S", above=0),
            max_open_files=e.integer("HIVE_SANDBOX_MAX_OPEN_FILES", 4096, above=0),
            command_settle_s=e.number("HIVE_SANDBOX_COMMAND_SETTLE_S", 0.05, minimum=0),
            command_sync_commit=e.flag("HIVE_SANDBOX_COMMAND_SYNC_COMMIT", True),
            coding_backend=e.text("HIVE_SANDBOX_CODING_BACKEND", "codex_cli"),
            lease_ttl_s=e.number("HIVE_SANDBOX_LEASE_TTL_S", 30.0, above=0),
            worker_enabled=e.flag("HIVE_SANDBOX_WORKER", True),
            token_revocation_cache_s=e.number(
                "HIVE_SANDBOX_TOKEN_REVOCATION_CACHE_S", 2.0, minimum=0, maximum=10
            ),
            confinement=_confinement(e, root),
            codex=CodexSettings.from_env(e.mapping),
            workruns=WorkRunSettings.from_env(e.mapping),
        )


def _confinement(e: Environment, root: Path) -> ConfinementSettings:
    ports = tuple(_port(p) for p in e.csv("HIVE_SANDBOX_EGRESS_PORTS", DEFAULT_EGRESS_PORTS_CSV))
    reads = tuple(Path(p) for p in e.csv("HIVE_SANDBOX_CONFINE_READ_PATHS"))
    if any(not p.is_absolute() for p in reads):
        raise SettingsError("HIVE_SANDBOX_CONFINE_READ_PATHS", "takes absolute paths")
    protected = [root]
    if data := e.optional_text("HIVE_DATA_DIR"):
        protected.append(Path(data).absolute())
    return ConfinementSettings(
        required=e.flag("HIVE_SANDBOX_REQUIRE_CONFINEMENT", False),
        enabled=e.flag("HIVE_SANDBOX_CONFINEMENT", True),
        launcher=Path(e.optional_text("HIVE_SANDBOX_CONFINE_BIN") or DEFAULT_LAUNCHER),
        egress_ports=ports,
        extra_read_paths=reads,
        protected_paths=tuple(protected),
    )


def _port(item: str) -> int:
    try:
        port = int(item)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise SettingsError(
            "HIVE_SANDBOX_EGRESS_PORTS", f"takes comma-separated ports 1-65535, got {item!r}"
        )
    return port


class _ReadLog(Mapping[str, str]):
    """A mapping that remembers every key looked up in it."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = data
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def environment_names() -> tuple[str, ...]:
    """Every variable SandboxSettings.from_env reads (what `hive dev` forwards to the sandbox).

    Found by loading once against a mapping that logs its lookups, so the list is
    the loader itself and cannot drift from it (every read is unconditional).
    """
    log = _ReadLog({"HIVE_INTERNAL_SECRET": "-"})
    SandboxSettings.from_env(log)
    return tuple(sorted(log.read))
