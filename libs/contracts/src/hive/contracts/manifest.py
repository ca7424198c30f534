"""WorkspaceManifest: what a task's workspace is, never what it contains."""

from __future__ import annotations

from typing import Literal

import msgspec

RepoPathClass = Literal["requested_path_copy", "archive_seed", "empty"]
ApplyBackMode = Literal["direct", "relay", "none"]


class WorkspaceManifest(msgspec.Struct, kw_only=True, frozen=True):
    """Recorded per task. Never raw archives, patches or secrets (the relay token
    is reported only as configured or not)."""

    task_id: str
    repo_path_class: RepoPathClass
    repo_path: str
    artifact_manifest_path: str
    target_paths: list[str] = []
    requested_path: str | None = None
    requested_path_present: bool = False
    source_archive_present: bool = False
    apply_back_mode: ApplyBackMode = "none"
    apply_relay_url: str | None = None
    apply_relay_token_configured: bool = False
