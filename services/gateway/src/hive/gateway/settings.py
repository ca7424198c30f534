"""Gateway settings: one Struct, read once from the environment, validated at startup.

Strict mode (`HIVE_STRICT_STARTUP=true`, the default) refuses to start when a
required secret is missing, a known placeholder, or too short. Outside strict
mode (`hive dev`) a missing secret is replaced by a random one for this process
only, with a warning. Every refusal is a `SettingsError` naming the setting.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

import msgspec

from hive.contracts.settings import Environment
from hive.contracts.settings import SettingsError as SettingsError
from hive.gateway.relay.providers import ModelProvider, parse_providers

MigrationMode = Literal["check", "upgrade", "off"]
WorkspaceVisibility = Literal["auto", "shared", "separate"]

MIN_SECRET_LENGTH = 32
MIN_ADMIN_PASSWORD_LENGTH = 12

# Values people leave in templates. Compared case-insensitively after stripping
# separators, so "change-me", "CHANGE_ME" and "changeme" all match.
PLACEHOLDERS = frozenset(
    {
        "changeme",
        "changethis",
        "changeit",
        "replaceme",
        "placeholder",
        "secret",
        "mysecret",
        "yoursecret",
        "yoursecrethere",
        "supersecret",
        "password",
        "passw0rd",
        "admin",
        "default",
        "example",
        "insecure",
        "notsecret",
        "dev",
        "devsecret",
        "development",
        "test",
        "testing",
        "todo",
        "fixme",
        "xxx",
        "none",
        "null",
        "unset",
        "dummy",
    }
)
PLACEHOLDER_MARKERS = ("changeme", "replaceme", "placeholder", "yoursecret", "insecure")


def placeholder_problem(value: str, min_length: int) -> str | None:
    """Why `value` is not a usable secret, or None when it is."""
    if not value:
        return "is required"
    folded = "".join(ch for ch in value.lower() if ch.isalnum())
    if folded in PLACEHOLDERS or any(m in folded for m in PLACEHOLDER_MARKERS):
        return "holds a placeholder value"
    if len(set(value)) <= 2:
        return "is a repeated character, not a secret"
    if len(value) < min_length:
        return f"is too short ({len(value)} characters, at least {min_length} required)"
    return None


class GatewaySettings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything the full gateway reads from its environment."""

    database_url: str
    """DATABASE_URL: the PostgreSQL the gateway state lives in."""
    session_secret: str
    """DASHBOARD_SESSION_SECRET: keys the stored session hashes and CSRF tokens."""
    internal_secret: str
    """HIVE_INTERNAL_SECRET: shared with sandbox and agents; signs task tokens."""
    credential_key: str
    """HIVE_CREDENTIAL_KEY: the key credentials at rest are encrypted with."""
    workspace: Path
    """HIVE_WORKSPACE: where project workspaces live unless given as absolute paths."""
    strict: bool = True
    """HIVE_STRICT_STARTUP: refuse to start on weak secrets or DB/migration failure."""
    migration_mode: MigrationMode = "check"
    """HIVE_STARTUP_MIGRATION_MODE: check (refuse unless at head), upgrade, or off."""
    metadata_create: bool = False
    """HIVE_METADATA_CREATE_ON_STARTUP: create the schema when the database is empty."""
    cookie_secure: bool = True
    """HIVE_COOKIE_SECURE: mark cookies Secure (off only for plain-HTTP local use)."""
    bootstrap_admin_password: str | None = None
    """HIVE_BOOTSTRAP_ADMIN_PASSWORD: creates operator `admin` at startup if missing."""
    sandbox_url: str = "http://127.0.0.1:8091"
    """HIVE_SANDBOX_URL: the sandbox the dev-task facade calls."""
    sandbox_workspace: WorkspaceVisibility = "auto"
    """HIVE_SANDBOX_WORKSPACE_VISIBILITY: does the sandbox see project paths (shared) or
    must tasks be seeded with an archive (separate); auto = shared iff the sandbox
    URL is on loopback (same machine)."""
    seed_archive_max_bytes: int = 64 * 1024 * 1024
    """HIVE_SEED_ARCHIVE_MAX_BYTES: refuse to seed a workspace larger than this."""
    workspace_apply_token: str | None = None
    """HIVE_WORKSPACE_APPLY_RELAY_TOKEN: bearer the sandbox's apply-back relay presents
    (its HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN); unset = no /internal/workspace-apply."""
    workspace_apply_max_bytes: int = 64 * 1024 * 1024
    """HIVE_WORKSPACE_APPLY_MAX_BYTES: largest apply-back request body (413 above)."""
    providers: tuple[ModelProvider, ...] = ()
    """HIVE_MODEL_PROVIDERS: the relay's upstreams."""
    relay_rate_per_minute: float = 240.0
    """HIVE_RELAY_RATE_LIMIT_PER_MINUTE: calls per task token per minute (burst = same)."""
    relay_timeout_s: float = 600.0
    """HIVE_RELAY_TIMEOUT_S: longest a relayed call may take."""
    token_default_ttl_s: int = 900
    """HIVE_TASK_TOKEN_TTL_S: default task-token lifetime (15 minutes)."""
    token_max_ttl_s: int = 86_400
    """HIVE_TASK_TOKEN_MAX_TTL_S: longest lifetime a caller may ask for."""
    session_ttl_s: int = 12 * 3600
    """HIVE_SESSION_TTL_S: operator session lifetime."""
    login_max_failures: int = 5
    """HIVE_LOGIN_MAX_FAILURES: failed logins per username (and 4x per client) per window."""
    login_window_s: float = 300.0
    """HIVE_LOGIN_WINDOW_S: the login-throttling window."""
    metrics_public: bool = False
    """HIVE_METRICS_PUBLIC: serve /metrics without the internal secret."""
    pool_backend: str = "local"
    """HIVE_POOL_BACKEND: reported in /healthz (agent pools are not served yet)."""
    log_level: str = "INFO"
    """HIVE_LOG_LEVEL."""
    access_log: bool = True
    """HIVE_ACCESS_LOG: one JSON line per answered request."""
    generated_secrets: tuple[str, ...] = ()
    """Names of secrets generated for this process (non-strict mode only)."""
    warnings: tuple[str, ...] = ()
    """Problems tolerated outside strict mode, logged at startup."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        """Read and validate; raise SettingsError naming the first bad setting."""
        e = Environment(env)
        strict = e.flag("HIVE_STRICT_STARTUP", True)
        warnings: list[str] = []
        generated: list[str] = []

        def secret(name: str, min_length: int = MIN_SECRET_LENGTH) -> str:
            value = e.optional_text(name) or ""
            problem = placeholder_problem(value, min_length)
            if problem is None:
                return value
            if strict:
                raise SettingsError(name, problem)
            if not value:
                generated.append(name)
                return secrets.token_urlsafe(32)
            warnings.append(f"{name} {problem} (tolerated: HIVE_STRICT_STARTUP=false)")
            return value

        session_secret = secret("DASHBOARD_SESSION_SECRET")
        internal_secret = secret("HIVE_INTERNAL_SECRET")
        credential_key = secret("HIVE_CREDENTIAL_KEY")
        database_url = e.optional_text("DATABASE_URL") or ""
        if not database_url:
            raise SettingsError("DATABASE_URL", "is required")
        if urlsplit(database_url).scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise SettingsError("DATABASE_URL", "must be a postgresql:// URL")

        def optional_secret(name: str, min_length: int) -> str | None:
            value = e.optional_text(name)
            problem = None if value is None else placeholder_problem(value, min_length)
            if problem is not None:
                if strict:
                    raise SettingsError(name, problem)
                warnings.append(f"{name} {problem} (tolerated)")
            return value

        # Optional, but once set it guards writes into the operators' working trees,
        # so it is held to the same standard as the required secrets.
        apply_token = optional_secret("HIVE_WORKSPACE_APPLY_RELAY_TOKEN", MIN_SECRET_LENGTH)
        admin_password = optional_secret("HIVE_BOOTSTRAP_ADMIN_PASSWORD", MIN_ADMIN_PASSWORD_LENGTH)

        workspace_raw = e.optional_text("HIVE_WORKSPACE") or ""
        if not workspace_raw:
            if strict:
                raise SettingsError("HIVE_WORKSPACE", "is required")
            workspace_raw = str(Path(e.text("HIVE_DATA_DIR", ".hive")) / "workspace")
            warnings.append(f"HIVE_WORKSPACE is not set; using {workspace_raw}")
        workspace = Path(workspace_raw).absolute()

        mode: MigrationMode = e.choice(
            "HIVE_STARTUP_MIGRATION_MODE", get_args(MigrationMode), "check"
        )
        visibility: WorkspaceVisibility = e.choice(
            "HIVE_SANDBOX_WORKSPACE_VISIBILITY", get_args(WorkspaceVisibility), "auto"
        )
        try:
            providers = parse_providers(e.text("HIVE_MODEL_PROVIDERS", ""), e.mapping)
        except ValueError as exc:
            raise SettingsError("HIVE_MODEL_PROVIDERS", str(exc)) from exc
        default_ttl = e.integer("HIVE_TASK_TOKEN_TTL_S", 900, minimum=1)
        max_ttl = e.integer("HIVE_TASK_TOKEN_MAX_TTL_S", 86_400, minimum=1)
        if default_ttl > max_ttl:
            raise SettingsError("HIVE_TASK_TOKEN_TTL_S", "exceeds HIVE_TASK_TOKEN_MAX_TTL_S")

        return cls(
            database_url=database_url,
            session_secret=session_secret,
            internal_secret=internal_secret,
            credential_key=credential_key,
            workspace=workspace,
            strict=strict,
            migration_mode=mode,
            metadata_create=e.flag("HIVE_METADATA_CREATE_ON_STARTUP", False),
            cookie_secure=e.flag("HIVE_COOKIE_SECURE", True),
            bootstrap_admin_password=admin_password,
            sandbox_url=e.text("HIVE_SANDBOX_URL", "http://127.0.0.1:8091").rstrip("/"),
            sandbox_workspace=visibility,
            seed_archive_max_bytes=e.integer(
                "HIVE_SEED_ARCHIVE_MAX_BYTES", 64 * 1024 * 1024, minimum=1024
            ),
            workspace_apply_token=apply_token,
            workspace_apply_max_bytes=e.integer(
                "HIVE_WORKSPACE_APPLY_MAX_BYTES", 64 * 1024 * 1024, minimum=1024
            ),
            providers=providers,
            relay_rate_per_minute=e.number("HIVE_RELAY_RATE_LIMIT_PER_MINUTE", 240.0, minimum=1),
            relay_timeout_s=e.number("HIVE_RELAY_TIMEOUT_S", 600.0, minimum=1),
            token_default_ttl_s=default_ttl,
            token_max_ttl_s=max_ttl,
            session_ttl_s=e.integer("HIVE_SESSION_TTL_S", 12 * 3600, minimum=60),
            login_max_failures=e.integer("HIVE_LOGIN_MAX_FAILURES", 5, minimum=1),
            login_window_s=e.number("HIVE_LOGIN_WINDOW_S", 300.0, minimum=1),
            metrics_public=e.flag("HIVE_METRICS_PUBLIC", False),
            pool_backend=e.text("HIVE_POOL_BACKEND", "local"),
            log_level=e.text("HIVE_LOG_LEVEL", "INFO").upper(),
            access_log=e.flag("HIVE_ACCESS_LOG", True),
            generated_secrets=tuple(generated),
            warnings=tuple(warnings),
        )

    def secret_env_names(self) -> list[str]:
        """The environment variables that carried secrets (taken out once read)."""
        names = [
            "DATABASE_URL",
            "DASHBOARD_SESSION_SECRET",
            "HIVE_INTERNAL_SECRET",
            "HIVE_CREDENTIAL_KEY",
            "HIVE_BOOTSTRAP_ADMIN_PASSWORD",
            "HIVE_WORKSPACE_APPLY_RELAY_TOKEN",
        ]
        return names + [p.api_key_env for p in self.providers if p.api_key_env]

    def secret_values(self) -> list[str]:
        """Every configured secret value (what the log redactor must never let out)."""
        values = [
            self.session_secret,
            self.internal_secret,
            self.credential_key,
            self.bootstrap_admin_password or "",
            self.workspace_apply_token or "",
        ]
        password = urlsplit(self.database_url).password
        if password:
            values.append(password)
        values.extend(p.api_key for p in self.providers if p.api_key)
        return [v for v in values if v]
