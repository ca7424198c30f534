"""The receiving end of the sandbox's apply-back relay.

When the sandbox cannot see a project's workspace (separate pods, the
workspace seeded as `archive_b64`), it sends the approved patch here, only
after approval. The gateway holds the workspace mounts, so it:

1. resolves the project and refuses a `requested_path` whose real path
   (symlinks followed) is not the project's workspace or inside it;
2. verifies `patch_sha256` against the decoded patch;
3. under a PostgreSQL advisory lock on the target (one apply at a time per
   working tree, across gateway replicas), runs `git apply --check`, then
   `git apply`. A patch that does not apply but whose reverse does is already
   there: answered as applied, nothing touched. Otherwise a conflict, with
   git's reason, and the tree untouched;
4. records a `WorkspaceApplyRecorded` receipt on `workspaceapply-<task_id>`
   (digest and size, never the patch) and counts the outcome.

A receipt of an earlier successful apply of the same patch makes a replay
answer "already applied" without running git at all: after a lost answer the
sandbox may retry, and the patch must never land twice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import asyncpg

from hive.contracts.api import WorkspaceApplyRequest
from hive.contracts.errors import ErrorCode
from hive.contracts.events import WorkspaceApplyRecorded
from hive.events import ANY, EventStore, EventStoreError
from hive.gateway.dev_tasks.working_tree import GitUnavailable, WorkingTree
from hive.gateway.platform.metrics import GatewayMetrics
from hive.gateway.projects.repository import ProjectRepository

log = logging.getLogger("hive.gateway.dev_tasks.workspace_apply")

STREAM_CATEGORY = "workspaceapply"
# Advisory locks taken with two int4 keys live in their own key space (PostgreSQL
# docs), apart from the single-bigint locks such as the migration lock.
LOCK_CLASS = 0x41505059  # "APPY"

Outcome = Literal["applied", "already_applied", "conflict", "refused"]


def stream_for(task_id: str) -> str:
    """The stream the receipts of one task are recorded on."""
    return f"{STREAM_CATEGORY}-{task_id}"


@dataclass(frozen=True, slots=True)
class ApplyReceipt:
    """How one request ended; `code` says why when it was not applied."""

    outcome: Outcome
    target: str | None = None
    reason: str | None = None
    code: ErrorCode | None = None

    @property
    def applied(self) -> bool:
        """True when the patch is in the tree (now or from before)."""
        return self.outcome in ("applied", "already_applied")


class InvalidApplyRequest(ValueError):
    """A body that cannot even be recorded (no usable task id)."""


def _refused(code: ErrorCode, reason: str, target: str | None = None) -> ApplyReceipt:
    return ApplyReceipt("refused", target, reason, code)


def _text(value: str | None, limit: int) -> str | None:
    """A caller's string as it may be stored (jsonb holds no NUL), bounded."""
    return None if value is None else value.replace("\x00", "\ufffd")[:limit]


def _digest(req: WorkspaceApplyRequest) -> str:
    """The claimed patch digest, normalised (hex digests are case-insensitive)."""
    return _text(req.patch_sha256.strip().lower(), 64) or ""


def _usable_id(value: str) -> bool:
    return 0 < len(value) <= 256 and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def resolve_target(workspace_path: str, requested_path: str) -> Path | ApplyReceipt:
    """The real directory to patch, or the refusal.

    Both sides are resolved with symlinks followed, so a link inside the
    workspace pointing elsewhere, or a `..` walk, cannot lead out of it.
    """
    if "\x00" in requested_path or not os.path.isabs(requested_path):
        return _refused(ErrorCode.VALIDATION_FAILED, "requested_path must be absolute")
    root = os.path.realpath(workspace_path)
    target = os.path.realpath(requested_path)
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        return _refused(
            ErrorCode.PATH_OUTSIDE_WORKSPACE,
            "requested_path is outside the project's workspace",
        )
    if not os.path.isdir(target):
        return _refused(
            ErrorCode.VALIDATION_FAILED,
            "the project's workspace does not exist on the gateway",
            target,
        )
    return Path(target)


class WorkspaceApplier:
    """Applies relayed patches and keeps the receipts."""

    def __init__(
        self,
        projects: ProjectRepository,
        store: EventStore,
        metrics: GatewayMetrics,
        *,
        git_timeout_s: float = 120.0,
    ) -> None:
        self.projects = projects
        self.store = store
        self.metrics = metrics
        self.git_timeout_s = git_timeout_s

    async def apply(self, req: WorkspaceApplyRequest) -> ApplyReceipt:
        """Apply one relayed patch; every outcome past the task id is recorded."""
        if not _usable_id(req.task_id):
            raise InvalidApplyRequest("task_id must be 1-256 printable characters")
        try:
            diff = base64.b64decode(req.patch_b64, validate=True)
        except (binascii.Error, ValueError):
            diff = None
        if diff is None or not diff:
            receipt = _refused(ErrorCode.VALIDATION_FAILED, "patch_b64 is not a base64 patch")
            return await self._finish(req, b"", receipt)
        if hashlib.sha256(diff).hexdigest() != _digest(req):
            receipt = _refused(ErrorCode.VALIDATION_FAILED, "patch_sha256 does not match the patch")
            return await self._finish(req, diff, receipt)
        project = await self.projects.get(req.project_id) if _usable_id(req.project_id) else None
        if project is None:
            receipt = _refused(ErrorCode.NOT_FOUND, "project not found")
            return await self._finish(req, diff, receipt)
        target = resolve_target(project.workspace_path, req.requested_path)
        if isinstance(target, ApplyReceipt):
            return await self._finish(req, diff, target)
        async with self.store.pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", LOCK_CLASS, str(target))
            try:
                # Recorded before the lock goes: the next request then sees this receipt.
                return await self._finish(req, diff, await self._apply_locked(req, target, diff))
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1, hashtext($2))", LOCK_CLASS, str(target)
                )

    async def _apply_locked(
        self, req: WorkspaceApplyRequest, target: Path, diff: bytes
    ) -> ApplyReceipt:
        where = str(target)
        if await self._applied_before(req.task_id, _digest(req)):
            return ApplyReceipt("already_applied", where, "applied by an earlier request")
        tree = WorkingTree(target, timeout_s=self.git_timeout_s)
        try:
            forward = await tree.check(diff)
            if forward.ok:
                done = await tree.apply(diff)
                if done.ok:
                    return ApplyReceipt("applied", where)
                return ApplyReceipt(
                    "conflict", where, f"git apply failed: {done.reason}", ErrorCode.CONFLICT
                )
            if (await tree.check_applied(diff)).ok:
                return ApplyReceipt("already_applied", where, "the patch is already in the tree")
        except GitUnavailable as exc:
            return _refused(ErrorCode.UNAVAILABLE, str(exc), where)
        return ApplyReceipt(
            "conflict", where, f"patch does not apply: {forward.reason}", ErrorCode.CONFLICT
        )

    async def _applied_before(self, task_id: str, sha256: str) -> bool:
        for rec in await self.store.read_stream(stream_for(task_id)):
            event = rec.decode()
            if (
                isinstance(event, WorkspaceApplyRecorded)
                and event.outcome == "applied"
                and event.patch_sha256 == sha256
            ):
                return True
        return False

    async def _finish(
        self, req: WorkspaceApplyRequest, diff: bytes, receipt: ApplyReceipt
    ) -> ApplyReceipt:
        """Record the receipt, count it and log it (never the patch)."""
        self.metrics.workspace_apply(receipt.outcome)
        log.info(
            "workspace apply %s: task %s project %s target %s sha256 %s (%d bytes)%s",
            receipt.outcome,
            req.task_id,
            _text(req.project_id, 256),
            receipt.target or _text(req.requested_path, 4096),
            _digest(req),
            len(diff),
            f": {receipt.reason}" if receipt.reason else "",
        )
        event = WorkspaceApplyRecorded(
            task_id=req.task_id,
            project_id=_text(req.project_id, 256) or "",
            requested_path=_text(req.requested_path, 4096) or "",
            target=receipt.target,
            baseline_commit=_text(req.baseline_commit or None, 64),
            patch_sha256=_digest(req),
            size_bytes=len(diff),
            outcome=receipt.outcome,
            reason=receipt.reason,
            recorded_at=datetime.now(UTC),
        )
        try:
            await self.store.append(stream_for(req.task_id), [event], ANY)
        except (asyncpg.PostgresError, EventStoreError, OSError):
            # The tree already holds the outcome; a lost receipt must not turn an
            # applied patch into a reported failure. The log line above stays.
            log.exception("could not record the workspace apply receipt of task %s", req.task_id)
        return receipt
