"""Work Run settings: the `workruns` part of SandboxSettings (read with it, once, at startup)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from hive.contracts.settings import Environment


class WorkRunSettings(msgspec.Struct, kw_only=True, frozen=True):
    """What the Work Run domain reads from the environment."""

    apply_relay_url: str | None = None
    """HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL: where approved patches go when the
    requested path is not visible to the sandbox."""
    apply_relay_token: str | None = None
    """HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN: bearer for that relay (never logged)."""
    max_concurrent_attempts: int = 4
    """HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS: attempts one replica runs at once."""
    poll_interval_s: float = 1.0
    """HIVE_SANDBOX_WORKER_POLL_S: fallback poll when no NOTIFY wakes the worker."""
    archive_max_compressed_bytes: int = 64 * 1024 * 1024
    """HIVE_SANDBOX_ARCHIVE_MAX_COMPRESSED_BYTES: the gzip tar itself (before base64); the
    body limit of POST /dev-tasks follows from it (`ArchiveLimits.max_request_bytes`)."""
    archive_max_bytes: int = 512 * 1024 * 1024
    """HIVE_SANDBOX_ARCHIVE_MAX_BYTES: decompressed size limit of a workspace archive."""
    archive_max_files: int = 50_000
    """HIVE_SANDBOX_ARCHIVE_MAX_FILES: member count limit of a workspace archive."""
    git_timeout_s: float = 300.0
    """HIVE_SANDBOX_GIT_TIMEOUT_S: limit of one git call (seed, patch, apply-back); past it
    git and its children are killed and the seed, attempt or apply fails saying so."""

    def __repr__(self) -> str:
        # The relay token must never reach a log line through a settings dump.
        return (
            f"WorkRunSettings(apply_relay_url={self.apply_relay_url!r}, "
            f"apply_relay_token={'***' if self.apply_relay_token else None}, "
            f"max_concurrent_attempts={self.max_concurrent_attempts}, "
            f"git_timeout_s={self.git_timeout_s})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkRunSettings:
        """Read the HIVE_SANDBOX_* variables above; SettingsError names a bad one."""
        e = Environment(env)
        return cls(
            apply_relay_url=e.optional_text("HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL"),
            apply_relay_token=e.optional_text("HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN"),
            max_concurrent_attempts=e.integer("HIVE_SANDBOX_MAX_CONCURRENT_ATTEMPTS", 4, above=0),
            poll_interval_s=e.number("HIVE_SANDBOX_WORKER_POLL_S", 1.0, above=0),
            archive_max_compressed_bytes=e.integer(
                "HIVE_SANDBOX_ARCHIVE_MAX_COMPRESSED_BYTES", 64 * 1024 * 1024, above=0
            ),
            archive_max_bytes=e.integer(
                "HIVE_SANDBOX_ARCHIVE_MAX_BYTES", 512 * 1024 * 1024, above=0
            ),
            archive_max_files=e.integer("HIVE_SANDBOX_ARCHIVE_MAX_FILES", 50_000, above=0),
            git_timeout_s=e.number("HIVE_SANDBOX_GIT_TIMEOUT_S", 300.0, above=0),
        )
