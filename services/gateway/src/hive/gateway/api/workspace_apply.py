"""/internal/workspace-apply: the sandbox's apply-back relay lands approved patches here.

Mounted only when HIVE_WORKSPACE_APPLY_RELAY_TOKEN is set; the caller presents
that token as `Authorization: Bearer`. Answers: 200 `{applied, already,
task_id, patch_sha256}`; 409 `conflict` (git's reason in `detail`, the tree
untouched); 403 `path_outside_workspace`; 404 `not_found` (no such project);
422 `validation_failed` (digest mismatch, not base64, workspace missing);
413 `payload_too_large`; 401 `unauthorized`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post

from hive.contracts.api import WorkspaceApplyRequest, WorkspaceApplyResult
from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.gateway.api.docs import problems
from hive.gateway.auth import runtime_of
from hive.gateway.workspace_apply import InvalidApplyRequest

APPLY_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 422, 503)


@post(
    "/internal/workspace-apply",
    status_code=200,
    responses=APPLY_PROBLEMS,
    tags=["internal"],
)
async def workspace_apply(
    request: Request[Any, Any, Any], data: WorkspaceApplyRequest
) -> WorkspaceApplyResult:
    """Apply an approved patch to the project's working tree (idempotent)."""
    applier = runtime_of(request).require().workspace_apply
    try:
        receipt = await applier.apply(data)
    except InvalidApplyRequest as exc:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, str(exc)) from exc
    if not receipt.applied:
        raise HiveHTTPError(
            receipt.status, receipt.code or ErrorCode.CONFLICT, receipt.reason or receipt.outcome
        )
    return WorkspaceApplyResult(
        applied=True,
        already=receipt.outcome == "already_applied",
        task_id=data.task_id,
        patch_sha256=data.patch_sha256,
    )
