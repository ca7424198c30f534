"""Apply-back: land an approved patch on the requested workspace, or hand it to the relay.

Direct mode (the sandbox can see the requested path): `git apply --check`
first, so a conflict leaves the target untouched and becomes `apply_failed`
with git's reason. Applying is idempotent: when the forward check fails but
`git apply --reverse --check` passes, the target already holds the patch (an
earlier apply landed it and crashed before recording so) and that is success. Relay mode (the path lives on another machine): the patch
is POSTed to `HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_URL` with the bearer
`HIVE_SANDBOX_WORKSPACE_APPLY_RELAY_TOKEN`. This module is only ever called
after `TaskApproved` is committed, so nothing leaves the sandbox before
approval.

Relay request: `POST <url>`, `Authorization: Bearer <token>`, JSON `{task_id,
project_id, requested_path, baseline_commit, patch_sha256, patch_b64}` (the
unified diff base64-encoded; its sha256 in hex). Any 2xx means applied (the
gateway answers `{applied: true, already, task_id, patch_sha256}`, `already`
when a replay found the patch in place). Anything else is `apply_failed`: a
409 is a conflict, its problem+json `detail` (git's reason) becomes the
task's reason; other answers give their status, `code` and `detail`. The
receiver in this product is the gateway's `POST /internal/workspace-apply`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from hive.contracts.events import ApplyMode
from hive.sandbox.workruns import git_repo

# The relay's reason ends up in the task's status; keep it readable, not unbounded.
MAX_RELAY_DETAIL = 2000


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """Where the patch went; `error` is None on success."""

    mode: ApplyMode
    target: str | None
    error: str | None = None
    already_applied: bool = False
    """The target held the patch already (a retried apply after a crash)."""


def visible_dir(path: str | None) -> bool:
    """True when `path` names a directory this process can see."""
    return bool(path) and Path(path).is_dir()  # type: ignore[arg-type]


def public_url(url: str) -> str:
    """The URL without user info or query (it may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class ApplyBack:
    """Direct apply with a pre-check, else the configured relay."""

    def __init__(
        self,
        *,
        relay_url: str | None,
        relay_token: str | None,
        timeout_s: float = 30.0,
        git_timeout_s: float = git_repo.DEFAULT_TIMEOUT_S,
    ) -> None:
        self.relay_url = relay_url
        self._relay_token = relay_token
        self.timeout_s = timeout_s
        self.git_timeout_s = git_timeout_s

    @property
    def relay_configured(self) -> bool:
        """True when a relay URL is set."""
        return bool(self.relay_url)

    @property
    def relay_token_configured(self) -> bool:
        """True when a relay token is set (the token itself is never reported)."""
        return bool(self._relay_token)

    def mode_for(self, requested_path: str | None) -> str:
        """`direct`, `relay` or `none`: what approval would do right now."""
        if visible_dir(requested_path):
            return "direct"
        if requested_path and self.relay_url:
            return "relay"
        return "none"

    async def apply(
        self,
        *,
        task_id: str,
        project_id: str,
        requested_path: str | None,
        baseline_commit: str | None,
        diff: bytes,
    ) -> ApplyOutcome:
        """Apply `diff`; never raises for an apply that merely failed."""
        mode = self.mode_for(requested_path)
        if mode == "direct":
            assert requested_path is not None
            target = Path(requested_path)
            try:
                reason = await git_repo.apply_check(target, diff, timeout_s=self.git_timeout_s)
                if reason is not None:
                    already = await git_repo.apply_check(
                        target, diff, reverse=True, timeout_s=self.git_timeout_s
                    )
                    if already is None:
                        return ApplyOutcome("direct", requested_path, already_applied=True)
                    return ApplyOutcome("direct", requested_path, f"patch does not apply: {reason}")
                await git_repo.apply(target, diff, timeout_s=self.git_timeout_s)
            except git_repo.GitError as exc:
                return ApplyOutcome("direct", requested_path, f"git apply failed: {exc.stderr}")
            return ApplyOutcome("direct", requested_path)
        if mode == "relay":
            return await self._relay(task_id, project_id, requested_path, baseline_commit, diff)
        return ApplyOutcome(
            "direct",
            requested_path,
            "the requested path is not visible to the sandbox and no apply relay is configured"
            if requested_path
            else "the task has no requested_path to apply to",
        )

    async def _relay(
        self,
        task_id: str,
        project_id: str,
        requested_path: str | None,
        baseline_commit: str | None,
        diff: bytes,
    ) -> ApplyOutcome:
        assert self.relay_url is not None
        target = public_url(self.relay_url)
        headers = {"Authorization": f"Bearer {self._relay_token}"} if self._relay_token else {}
        body = {
            "task_id": task_id,
            "project_id": project_id,
            "requested_path": requested_path,
            "baseline_commit": baseline_commit,
            "patch_sha256": hashlib.sha256(diff).hexdigest(),
            "patch_b64": base64.b64encode(diff).decode(),
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.post(self.relay_url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return ApplyOutcome("relay", target, f"apply relay unreachable: {type(exc).__name__}")
        if resp.is_success:
            return ApplyOutcome("relay", target)
        return ApplyOutcome("relay", target, relay_refusal(resp))


def relay_refusal(resp: httpx.Response) -> str:
    """The apply_failed reason of a relay's non-2xx answer (its problem+json, if any)."""
    code = detail = None
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        code = doc.get("code") if isinstance(doc.get("code"), str) else None
        detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
    if detail is not None:
        detail = detail[:MAX_RELAY_DETAIL]
    if resp.status_code == 409:
        return f"patch does not apply at the relay: {detail or 'conflict'}"
    reason = f"apply relay answered HTTP {resp.status_code}"
    if code:
        reason += f" {code}"
    return f"{reason}: {detail}" if detail else reason
