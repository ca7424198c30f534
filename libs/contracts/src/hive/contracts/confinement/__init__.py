"""Confined execution: the one place that builds the boundary of every governed process.

Every child the sandbox starts for model-written code (governed commands,
Work Run steps, the Codex CLI and all it spawns, the relay helper), and every
agent runtime the gateway's local_subprocess pool starts, is started through
`Confinement.launch`, which puts the `hive-confine` launcher in front of
it (see services/sandbox/native/hive-confine.c) with two stacked Landlock
domains:

- **filesystem**: read-write only the paths the caller names (the task's repo
  and scratch, whose `tmp` is the private TMPDIR); read-only and executable the
  system and toolchain paths (`read_only_paths`); nothing else. The data dir,
  other tasks, PostgreSQL's files, the gateway's workspaces, `.hive/` are not
  reachable. Grants that would contain a protected path (the sandbox root, the
  data dir) are dropped, not narrowed.
- **network and scopes**: TCP connect only to the egress ports
  (`HIVE_SANDBOX_EGRESS_PORTS`, default 80 and 443) plus the relay's port when
  the backend needs the relay; TCP bind only to a port the kernel picks (port 0),
  so no service's port can be shared with SO_REUSEPORT; no signals to, and no ptrace or /proc/<pid>/mem
  or environ of, any process outside the governed tree; no connection to
  abstract unix sockets created outside it. PostgreSQL is reached only over TCP
  (the embedded server has no unix socket), so its port is closed too.

The launcher also makes the tree die with the sandbox (PR_SET_PDEATHSIG plus
a child subreaper that kills every descendant), and drops all capabilities
when the sandbox runs as root. What is in force is reported by `status()`
(the sandbox's /healthz `confinement` block); `HIVE_SANDBOX_REQUIRE_CONFINEMENT`
makes a sandbox without it refuse to start.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from hive.contracts.confinement import landlock

log = logging.getLogger("hive.confinement")

# libs/contracts/src/hive/contracts/confinement/__init__.py -> the repository root.
REPO_ROOT: Final = Path(__file__).resolve().parents[6]
DEFAULT_LAUNCHER: Final = REPO_ROOT / ".tools" / "bin" / "hive-confine"
SYSTEM_READ_PATHS: Final = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys",
)  # fmt: skip
DEVICE_RW_PATHS: Final = (
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx",
    "/dev/pts",
)  # fmt: skip
DEFAULT_EGRESS_PORTS: Final = (80, 443)
KILL_TREE_SIGNAL: Final = signal.SIGUSR1
"""What the sandbox sends the launcher instead of SIGKILL (which would orphan the tree)."""
_FS_CACHE_SIZE: Final = 64


class ConfinementUnavailable(RuntimeError):
    """Confinement is required but cannot be put in force (the message names what is missing)."""


@dataclass(frozen=True, slots=True)
class ConfinementSettings:
    """What the operator chose (HIVE_SANDBOX_* settings)."""

    required: bool = False
    """HIVE_SANDBOX_REQUIRE_CONFINEMENT: refuse to start without every mechanism."""
    enabled: bool = True
    """HIVE_SANDBOX_CONFINEMENT: `false` turns it off (development of the sandbox itself only)."""
    launcher: Path = DEFAULT_LAUNCHER
    """HIVE_SANDBOX_CONFINE_BIN: the hive-confine launcher."""
    egress_ports: tuple[int, ...] = DEFAULT_EGRESS_PORTS
    """HIVE_SANDBOX_EGRESS_PORTS: TCP ports governed processes may connect to (any host)."""
    extra_read_paths: tuple[Path, ...] = ()
    """HIVE_SANDBOX_CONFINE_READ_PATHS: more read-only paths (toolchains outside PATH)."""
    protected_paths: tuple[Path, ...] = ()
    """Paths no grant may contain (the sandbox root, HIVE_DATA_DIR)."""


class LaunchFailed(OSError):
    """The launcher could not start the program (its setup or exec failed)."""


@dataclass(slots=True)
class Launch:
    """How to start one process: the argv to exec and the fds it must inherit.

    A confined launch carries a status pipe: the launcher writes `ok` once the
    program runs, or why it could not start. Call `started()` right after the
    spawn (or `abandon()` when the spawn itself failed).
    """

    argv: list[str]
    executable: str
    pass_fds: tuple[int, ...] = ()
    confined: bool = False
    status_r: int | None = None
    status_w: int | None = None

    def started(self) -> None:
        """Wait for the launcher's word (a blocking read, about as long as an exec);
        raise LaunchFailed when the program did not start."""
        if self.status_r is None:
            return
        self._close_w()
        chunks = []
        try:
            while chunk := os.read(self.status_r, 4096):
                chunks.append(chunk)
        finally:
            os.close(self.status_r)
            self.status_r = None
        word = b"".join(chunks).decode(errors="replace").strip()
        if word != "ok":
            raise LaunchFailed(
                word.removeprefix("error: ") or "the launcher exited before starting the program"
            )

    def abandon(self) -> None:
        """Close the status pipe (the spawn failed)."""
        self._close_w()
        if self.status_r is not None:
            os.close(self.status_r)
            self.status_r = None

    def _close_w(self) -> None:
        if self.status_w is not None:
            os.close(self.status_w)
            self.status_w = None


@dataclass(slots=True)
class ConfinementStatus:
    """What is in force (the /healthz `confinement` block)."""

    in_force: bool
    landlock_abi: int
    filesystem: bool
    network: bool
    scoped_signals: bool
    scoped_abstract_unix_sockets: bool
    dies_with_supervisor: bool
    capabilities_dropped: bool
    services_non_dumpable: bool
    launcher: str
    egress_ports: list[int]
    missing: list[str] = field(default_factory=list)

    def as_health(self) -> dict[str, Any]:
        """JSON for /healthz."""
        return {
            "in_force": self.in_force,
            "landlock_abi": self.landlock_abi,
            "filesystem": self.filesystem,
            "network": self.network,
            "scoped_signals": self.scoped_signals,
            "scoped_abstract_unix_sockets": self.scoped_abstract_unix_sockets,
            "dies_with_supervisor": self.dies_with_supervisor,
            "capabilities_dropped": self.capabilities_dropped,
            "services_non_dumpable": self.services_non_dumpable,
            "launcher": self.launcher,
            "egress_ports": self.egress_ports,
            "missing": self.missing,
        }


def port_of(url: str | None) -> int | None:
    """The TCP port a URL names (its scheme's default when it names none)."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


# Files that make an installation prefix unfit to grant whole (~/.cargo/credentials.toml...).
_CREDENTIAL_FILES: Final = (
    "credentials", "credentials.toml", ".credentials.json", ".netrc", ".pypirc", ".npmrc",
    ".git-credentials", "auth.json", ".docker",
)  # fmt: skip


def _holds_credentials(prefix: Path) -> bool:
    return prefix == Path("/") or any((prefix / f).exists() for f in _CREDENTIAL_FILES)


def toolchain_paths(path_env: str, programs: Iterable[str]) -> list[Path]:
    """Read-only grants for the tools governed commands run.

    Each PATH entry is granted, and the installation prefix around it when it is
    a `bin`-like directory (a Python's `lib/`, a pyenv's `libexec/`); each
    allowlisted program is resolved on PATH and its real prefix granted the
    same way (a venv's `python3` links into another installation).
    """
    grants: list[Path] = []

    def prefix_of(directory: Path) -> None:
        grants.append(directory)
        prefix = directory.parent
        if directory.name in ("bin", "sbin", "shims") and not _holds_credentials(prefix):
            grants.append(prefix)

    for entry in path_env.split(os.pathsep):
        if entry and os.path.isabs(entry) and os.path.isdir(entry):
            prefix_of(Path(os.path.realpath(entry)))
    for program in programs:
        if os.path.isabs(program):
            found: str | None = program
        else:
            found = shutil.which(program, path=path_env)
        if found:
            prefix_of(Path(os.path.realpath(found)).parent)
    return grants


class Confinement:
    """Builds the Landlock domains of governed processes and the launcher argv around them."""

    def __init__(
        self,
        settings: ConfinementSettings,
        *,
        read_paths: Iterable[Path],
        services_non_dumpable: bool,
    ) -> None:
        self.settings = settings
        self.abi = landlock.abi_version() if settings.enabled else 0
        self._root = os.geteuid() == 0
        self._non_dumpable = services_non_dumpable
        launcher = settings.launcher
        self._launcher_ok = launcher.is_file() and os.access(launcher, os.X_OK)
        protected = [Path(os.path.realpath(p)) for p in settings.protected_paths]
        self.read_only: list[Path] = []
        for p in [*map(Path, SYSTEM_READ_PATHS), *read_paths, *settings.extra_read_paths]:
            real = Path(os.path.realpath(p))
            if any(_inside(prot, real) or _inside(real, prot) for prot in protected):
                log.warning("confinement: not granting %s (it holds a protected path)", real)
                continue
            if real not in self.read_only:
                self.read_only.append(real)
        self._fs: OrderedDict[tuple[str, ...], landlock.Ruleset] = OrderedDict()
        self._net: dict[tuple[int | None, int | None], landlock.Ruleset] = {}
        self.status = self._probe()

    # -- what is in force ------------------------------------------------------------------

    def _probe(self) -> ConfinementStatus:
        abi = self.abi
        missing: list[str] = []
        if not self.settings.enabled:
            missing.append("confinement turned off (HIVE_SANDBOX_CONFINEMENT=false)")
        elif abi == 0:
            missing.append(
                "Landlock is not enabled in this kernel (needs Linux 5.13+, lsm=landlock)"
            )
        else:
            if abi < 4:
                missing.append(f"Landlock ABI {abi} < 4: no TCP connect rules (Linux 6.7+)")
            if abi < 6:
                missing.append(
                    f"Landlock ABI {abi} < 6: no signal/abstract-socket scoping (Linux 6.12+)"
                )
        if not self._launcher_ok:
            missing.append(
                f"launcher {self.settings.launcher} missing or not executable "
                "(scripts/install-tools.sh builds it; HIVE_SANDBOX_CONFINE_BIN overrides)"
            )
        if not self._non_dumpable:
            missing.append("the sandbox could not make itself non-dumpable (prctl PR_SET_DUMPABLE)")
        on = self.settings.enabled and self._launcher_ok
        return ConfinementStatus(
            in_force=not missing,
            landlock_abi=abi,
            filesystem=on and abi >= 1,
            network=on and abi >= 4,
            scoped_signals=on and abi >= 6,
            scoped_abstract_unix_sockets=on and abi >= 6,
            dies_with_supervisor=self._launcher_ok and self.settings.enabled,
            capabilities_dropped=on and self._root,
            services_non_dumpable=self._non_dumpable,
            launcher=str(self.settings.launcher),
            egress_ports=list(self.settings.egress_ports),
            missing=missing,
        )

    def require(self) -> None:
        """Raise ConfinementUnavailable when required and not entirely in force."""
        if self.settings.required and not self.status.in_force:
            raise ConfinementUnavailable(
                "HIVE_SANDBOX_REQUIRE_CONFINEMENT=true but confinement is not in force: "
                + "; ".join(self.status.missing)
            )

    @property
    def active(self) -> bool:
        """Whether children go through the launcher (with whatever Landlock the kernel has)."""
        return self.settings.enabled and self._launcher_ok

    # -- rulesets ---------------------------------------------------------------------------

    def _fs_ruleset(self, writable: Sequence[Path]) -> landlock.Ruleset:
        key = tuple(sorted({os.path.realpath(p) for p in writable}))
        cached = self._fs.get(key)
        if cached is not None:
            self._fs.move_to_end(key)
            return cached
        rights = landlock.fs_rights(self.abi)
        rs = landlock.Ruleset(fs=rights)
        try:
            for p in self.read_only:
                rs.allow_path(landlock.PathRule(p, landlock.FS_READ_ONLY))
            rs.allow_path(
                landlock.PathRule(Path("/dev"), landlock.FS_READ_FILE | landlock.FS_READ_DIR)
            )
            for dev in DEVICE_RW_PATHS:
                rs.allow_path(landlock.PathRule(Path(dev), rights))
            for w in key:
                rs.allow_path(landlock.PathRule(Path(w), rights))
        except BaseException:
            rs.close()
            raise
        self._fs[key] = rs
        while len(self._fs) > _FS_CACHE_SIZE:
            self._fs.popitem(last=False)[1].close()
        return rs

    def _net_ruleset(
        self, relay_port: int | None, listen_port: int | None = None
    ) -> landlock.Ruleset | None:
        if self.abi < 4:
            return None
        cached = self._net.get((relay_port, listen_port))
        if cached is not None:
            return cached
        scoped = landlock.SCOPE_SIGNAL | landlock.SCOPE_ABSTRACT_UNIX_SOCKET if self.abi >= 6 else 0
        rs = landlock.Ruleset(net=landlock.NET_CONNECT_TCP | landlock.NET_BIND_TCP, scoped=scoped)
        ports = set(self.settings.egress_ports)
        if relay_port:
            ports.add(relay_port)
        rs.allow_ports(sorted(ports), landlock.NET_CONNECT_TCP)
        # Listening only on a port the kernel picks: binding a service's port with
        # SO_REUSEPORT (granian sets it) would take a share of its connections.
        # A server (an agent runtime) may bind the one port it was given, nothing else.
        rs.allow_ports([0] if listen_port is None else [0, listen_port], landlock.NET_BIND_TCP)
        self._net[(relay_port, listen_port)] = rs
        return rs

    # -- launching --------------------------------------------------------------------------

    def launch(
        self,
        argv: Sequence[str],
        *,
        executable: str | None = None,
        writable: Sequence[Path],
        relay_url: str | None = None,
        launcher_args: Sequence[str] = (),
        listen_port: int | None = None,
    ) -> Launch:
        """The argv (and fds to pass) that start `argv` confined; unchanged when not active.

        `writable` is everything the process may write (its repo, its scratch);
        `relay_url` opens that URL's port, for backends that call the relay;
        `launcher_args` are more hive-confine options (`--rlimit`); `listen_port` is the
        one TCP port a server process may bind.
        """
        exe = executable or argv[0]
        if not self.active:
            return Launch(argv=list(argv), executable=exe)
        fds: list[int] = []
        if self.abi >= 1:
            fds.append(self._fs_ruleset(writable).fd)
            net = self._net_ruleset(port_of(relay_url), listen_port)
            if net is not None:
                fds.append(net.fd)
        launcher = str(self.settings.launcher)
        prefix = [launcher, "--parent", str(os.getpid()), *launcher_args]
        for fd in fds:
            prefix += ["--ruleset", str(fd)]
        if self._root:
            prefix.append("--drop-caps")
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        prefix += ["--status-fd", str(status_w)]
        return Launch(
            argv=[*prefix, "--", exe, *argv],
            executable=launcher,
            pass_fds=(*fds, status_w),
            confined=True,
            status_r=status_r,
            status_w=status_w,
        )

    def close(self) -> None:
        """Close the cached rulesets."""
        for rs in [*self._fs.values(), *self._net.values()]:
            rs.close()
        self._fs.clear()
        self._net.clear()
