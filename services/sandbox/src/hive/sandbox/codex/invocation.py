"""Pure builders of one Codex attempt: its paths, config.toml, argv, env and prompt.

Nothing here spawns or touches the network, so every rule the issue states is
checked by unit tests on the values built here, and again on a spawned process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from hive.sandbox.codex.settings import (
    DEFAULT_RELAY_PROVIDER_ID,
    CodexSettings,
    SandboxMode,
    check_provider_id,
)
from hive.sandbox.environment import child_env

RELAY_TOKEN_ENV: Final = "HIVE_RELAY_TASK_TOKEN"
"""The one variable holding the task token in relay mode (the provider's `env_key`)."""

MAX_PROMPT_BYTES: Final = 120_000
"""Under Linux's 128 KiB limit for one argv string (the prompt goes in argv; stdin is closed)."""


class CodexConfigError(ValueError):
    """The Codex backend is misconfigured for this attempt (the reason is secret-free)."""


@dataclass(frozen=True, slots=True)
class AttemptPaths:
    """Per-attempt HOME, CODEX_HOME and TMPDIR under the task's scratch dir.

    `<scratch>/codex/attempt-<n>/{home,home/.codex,tmp}`: CODEX_HOME sits beside
    TMPDIR, not inside it (Codex refuses to create its helper binaries under a
    temporary dir), and a fresh one per attempt keeps Codex's sqlite state and
    sessions from leaking between attempts.
    """

    root: Path
    home: Path
    codex_home: Path
    tmpdir: Path
    last_message: Path

    @classmethod
    def for_attempt(cls, scratch_dir: Path, attempt_no: int, repo_dir: Path) -> AttemptPaths:
        """The paths of attempt `attempt_no`; CodexConfigError if they would land in the repo."""
        root = Path(os.path.abspath(scratch_dir)) / "codex" / f"attempt-{attempt_no}"
        paths = cls(
            root=root,
            home=root / "home",
            codex_home=root / "home" / ".codex",
            tmpdir=root / "tmp",
            last_message=root / "last-message.md",
        )
        repo = os.path.realpath(repo_dir)
        for p in (paths.root, paths.home, paths.codex_home, paths.tmpdir):
            real = os.path.realpath(p)
            if real == repo or real.startswith(repo.rstrip(os.sep) + os.sep):
                raise CodexConfigError("the task scratch dir must not lie inside the repo")
        return paths

    def create(self) -> None:
        """Create the directories (mode 0700)."""
        for d in (self.home, self.codex_home, self.tmpdir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    @property
    def config_toml(self) -> Path:
        """`$CODEX_HOME/config.toml`."""
        return self.codex_home / "config.toml"


@dataclass(frozen=True, slots=True)
class Provider:
    """The `[model_providers.<id>]` table Codex is pointed at."""

    id: str
    name: str
    base_url: str
    env_key: str | None
    """Name of the variable sent as `Authorization: Bearer`; None sends no header."""


def provider_for(settings: CodexSettings, gateway_url: str | None) -> Provider | None:
    """The provider of this attempt: the gateway relay in relay mode, else the configured one."""
    if settings.auth_mode == "relay":
        if not gateway_url:
            raise CodexConfigError(
                "HIVE_SANDBOX_CODEX_AUTH_MODE=relay needs HIVE_GATEWAY_URL (the relay and task tokens)"
            )
        return Provider(
            id=check_provider_id(settings.provider_id or DEFAULT_RELAY_PROVIDER_ID),
            name="OpenHive gateway relay",
            base_url=gateway_url.rstrip("/") + "/relay/v1",
            env_key=RELAY_TOKEN_ENV,
        )
    if settings.provider_id and settings.provider_base_url:
        return Provider(
            id=check_provider_id(settings.provider_id),
            name=settings.provider_id,
            base_url=settings.provider_base_url.rstrip("/"),
            env_key=settings.provider_env_key if settings.auth_mode == "env" else None,
        )
    return None


def toml_string(value: str) -> str:
    """A TOML basic string (quotes, backslashes and control characters escaped)."""
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def config_toml(model: str, provider: Provider | None) -> str:
    """`$CODEX_HOME/config.toml`: the model, the provider, and everything that calls out turned off."""
    lines = [
        "# Written by the OpenHive sandbox for one attempt; do not edit.",
        f"model = {toml_string(model)}",
    ]
    if provider is not None:
        lines.append(f"model_provider = {toml_string(provider.id)}")
    lines += [
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[features]",
        "plugins = false",
        # Without this an unreachable provider makes Codex retry forever.
        "unbounded_connection_retries = false",
        "shell_snapshot = false",
    ]
    if provider is not None:
        lines += [
            "",
            f"[model_providers.{provider.id}]",
            f"name = {toml_string(provider.name)}",
            f"base_url = {toml_string(provider.base_url)}",
        ]
        if provider.env_key is not None:
            lines.append(f"env_key = {toml_string(provider.env_key)}")
        lines += [
            'wire_api = "responses"',
            # Bounded retries: a provider that is down fails the attempt within seconds.
            "request_max_retries = 0",
            "stream_max_retries = 0",
        ]
    return "\n".join(lines) + "\n"


def argv(
    binary: str, sandbox_mode: SandboxMode, repo_dir: Path, paths: AttemptPaths, prompt: str
) -> list[str]:
    """`codex exec` for one attempt (the prompt last, after `--`)."""
    if len(prompt.encode()) > MAX_PROMPT_BYTES:
        raise CodexConfigError(f"instructions plus resume context exceed {MAX_PROMPT_BYTES} bytes")
    return [
        binary,
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--ephemeral",
        "--sandbox",
        sandbox_mode,
        "-C",
        str(repo_dir),
        "-o",
        str(paths.last_message),
        # Shell tools without a login shell: far fewer process spawns per command.
        "-c",
        "allow_login_shell=false",
        "--",
        prompt,
    ]


def environment(
    settings: CodexSettings,
    paths: AttemptPaths,
    *,
    token: str | None = None,
    source_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Codex's whole environment: the scrubber's minimal env plus what the auth mode allows.

    scrubbed: no provider variables at all; env: exactly the allowlisted names
    present in `source_env` (the sandbox's own environment); relay: the task
    token in RELAY_TOKEN_ENV and nothing else.
    """
    allow: dict[str, str] = {"CODEX_HOME": str(paths.codex_home)}
    permit: list[str] = []
    if settings.auth_mode == "env":
        source = os.environ if source_env is None else source_env
        for name in settings.env_allowlist:
            if name in source:
                allow[name] = source[name]
        permit = list(settings.env_allowlist)
    elif settings.auth_mode == "relay":
        if not token:
            raise CodexConfigError("relay mode needs a task token")
        allow[RELAY_TOKEN_ENV] = token
        permit = [RELAY_TOKEN_ENV]
    return child_env(home=paths.home, tmpdir=paths.tmpdir, allow=allow, permit_secrets=permit)


# -- the prompt -----------------------------------------------------------------------------

_RESUME_HEADER: Final = (
    "This task was started by an earlier attempt that did not finish. The workspace "
    "already holds that attempt's changes. Continue from where it stopped; do not redo "
    "work that is already done.\n\nProgress recorded by the earlier attempt:"
)


def prompt(instructions: str, resume_checkpoint: Mapping[str, Any] | None) -> str:
    """The instructions, plus the latest checkpoint's context when this attempt resumes."""
    if not resume_checkpoint:
        return instructions
    return f"{instructions}\n\n---\n{_RESUME_HEADER}\n{resume_context(resume_checkpoint)}"


def resume_context(payload: Mapping[str, Any], limit: int = 8000) -> str:
    """A short text of what a checkpoint says was done (Codex progress, or the raw payload)."""
    progress = payload.get("progress")
    lines: list[str] = []
    if isinstance(progress, Mapping):
        files = [str(f) for f in progress.get("files_changed") or []]
        if files:
            lines.append("- Files changed: " + ", ".join(files))
        for cmd in progress.get("commands") or []:
            if isinstance(cmd, Mapping):
                lines.append(f"- Ran `{cmd.get('command')}` (exit code {cmd.get('exit_code')})")
        if progress.get("last_message"):
            lines.append(f"- Last message: {progress['last_message']}")
    if not lines:
        lines.append("- Checkpoint: " + json.dumps(dict(payload), default=str, sort_keys=True))
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 20] + "\n- ... (truncated)"
