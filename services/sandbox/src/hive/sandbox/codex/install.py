"""Where the Codex CLI is and which version it is (probed once per path, then cached).

The project pins `@openai/codex` in `tools/codex/package-lock.json`;
`scripts/install-tools.sh` installs it into `.tools/codex`. By default the
sandbox runs the platform's native binary from that tree directly (no Node
process in between, so signals and `/proc/<pid>` reach Codex itself), falling
back to the npm shim. `HIVE_SANDBOX_CODEX_BIN` overrides the path.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

PINNED_VERSION: Final = "0.169.0"
"""Must equal the version in tools/codex/package.json (a test checks it)."""

# services/sandbox/src/hive/sandbox/codex/install.py -> the repository root.
REPO_ROOT: Final = Path(__file__).resolve().parents[6]
TOOLS_DIR: Final = REPO_ROOT / ".tools" / "codex"

_TRIPLES: Final = {
    ("Linux", "x86_64"): ("linux-x64", "x86_64-unknown-linux-musl"),
    ("Linux", "aarch64"): ("linux-arm64", "aarch64-unknown-linux-musl"),
    ("Darwin", "x86_64"): ("darwin-x64", "x86_64-apple-darwin"),
    ("Darwin", "arm64"): ("darwin-arm64", "aarch64-apple-darwin"),
}
_VERSION = re.compile(r"(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)")


@dataclass(frozen=True, slots=True)
class CodexInstall:
    """What the sandbox knows about its Codex CLI."""

    path: str
    source: Literal["HIVE_SANDBOX_CODEX_BIN", "pinned"]
    present: bool
    version: str | None = None
    reason: str | None = None
    """Why the CLI is unusable (missing, not executable, --version failed)."""

    @property
    def pinned(self) -> bool:
        """True when the version is the one the project pins."""
        return self.version == PINNED_VERSION

    def as_health(self) -> dict[str, Any]:
        """The `codex` block of the sandbox's /healthz."""
        return {
            "present": self.present,
            "version": self.version,
            "pinned_version": PINNED_VERSION,
            "path": self.path,
            "source": self.source,
            "reason": self.reason,
        }

    def describe(self) -> str:
        """One line for `hive dev` and failure reasons."""
        if self.present:
            note = "" if self.pinned else f" (project pins {PINNED_VERSION})"
            return f"codex-cli {self.version}{note} at {self.path}"
        return f"codex CLI missing: {self.reason}"


def pinned_binary(tools_dir: Path = TOOLS_DIR) -> Path:
    """The native binary of the pinned install, else its npm shim (which may not exist)."""
    pkg = _TRIPLES.get((platform.system(), platform.machine()))
    if pkg is not None:
        native = (
            tools_dir
            / "node_modules"
            / "@openai"
            / f"codex-{pkg[0]}"
            / "vendor"
            / pkg[1]
            / "bin"
            / "codex"
        )
        if native.is_file():
            return native
    return tools_dir / "node_modules" / ".bin" / "codex"


def resolve(configured: str | None) -> tuple[Path, Literal["HIVE_SANDBOX_CODEX_BIN", "pinned"]]:
    """The CLI path: HIVE_SANDBOX_CODEX_BIN when set, else the pinned install."""
    if configured:
        return Path(configured), "HIVE_SANDBOX_CODEX_BIN"
    return pinned_binary(), "pinned"


@functools.lru_cache(maxsize=8)
def probe(configured: str | None = None) -> CodexInstall:
    """Find the CLI and run `codex --version` once (cached per configured path)."""
    path, source = resolve(configured)
    shown = str(path)
    if not path.exists():
        hint = (
            "run `make tools` (scripts/install-tools.sh)"
            if source == "pinned"
            else "fix HIVE_SANDBOX_CODEX_BIN"
        )
        return CodexInstall(shown, source, False, reason=f"{shown} does not exist; {hint}")
    if not os.access(path, os.X_OK) or path.is_dir():
        return CodexInstall(shown, source, False, reason=f"{shown} is not an executable file")
    try:
        done = subprocess.run(
            [shown, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CodexInstall(shown, source, False, reason=f"`{shown} --version` failed: {exc}")
    match = _VERSION.search(done.stdout)
    if done.returncode == 0 and match is None:
        return CodexInstall(
            shown, source, False, reason=f"`{shown} --version` did not print a version"
        )
    if done.returncode != 0 or match is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return CodexInstall(
            shown,
            source,
            False,
            reason=f"`{shown} --version` exited {done.returncode}: {tail[0][:200]}",
        )
    return CodexInstall(shown, source, True, version=match.group(1))
