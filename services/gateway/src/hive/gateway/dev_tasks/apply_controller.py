"""/internal/workspace-apply: the sandbox's apply-back relay lands approved patches here.

Mounted only when HIVE_WORKSPACE_APPLY_RELAY_TOKEN is set; the caller presents
that token as `Authorization: Bearer`. Answers: 200 `{applied, already,
task_id, patch_sha256}`; 409 `conflict` (git's reason in `detail`, the tree
untouched); 403 `path_outside_workspace`; 404 `not_found` (no such project);
422 `validation_failed` (digest mismatch, not base64, workspace missing);
413 `payload_too_large`; 401 `unauthorized`.
"""

from __future__ import annotations

from litestar import Router, post
from litestar.di import Provide

from hive.contracts.api import WorkspaceApplyRequest, WorkspaceApplyResult
from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError
from hive.gateway.dev_tasks.workspace_apply import InvalidApplyRequest, WorkspaceApplier
from hive.gateway.errors import Invalid
from hive.gateway.platform.openapi_problems import problems
from hive.gateway.runtime import Services
from hive.gateway.tokens.guards import workspace_apply_token

APPLY_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 422, 503)


@post(
    "/internal/workspace-apply",
    status_code=200,
    responses=APPLY_PROBLEMS,
    tags=["internal"],
)
async def workspace_apply(
    applier: WorkspaceApplier, data: WorkspaceApplyRequest
) -> WorkspaceApplyResult:
    """Apply an approved patch to the project's working tree (idempotent)."""
    try:
        receipt = await applier.apply(data)
    except InvalidApplyRequest as exc:
        raise Invalid(str(exc)) from exc
    if not receipt.applied:
        raise HiveError(receipt.reason or receipt.outcome, code=receipt.code or ErrorCode.CONFLICT)
    return WorkspaceApplyResult(
        applied=True,
        already=receipt.outcome == "already_applied",
        task_id=data.task_id,
        patch_sha256=data.patch_sha256,
    )


def _applier(services: Services) -> WorkspaceApplier:
    return services.workspace_apply


def router(max_body_bytes: int) -> Router:
    """/internal/workspace-apply behind the apply-back relay's token."""
    return Router(
        path="/",
        guards=[workspace_apply_token],
        request_max_body_size=max_body_bytes,
        security=[{"workspaceApplyToken": []}],
        dependencies={"applier": Provide(_applier, sync_to_thread=False)},
        route_handlers=[workspace_apply],
    )
