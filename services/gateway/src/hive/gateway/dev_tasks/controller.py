"""/api/projects/{project_id}/dev-tasks...: the sandbox's Work Run routes, project-scoped.

Answers are the sandbox's own bytes (status, content type and body), so the
schemas below document what the sandbox returns; streams (SSE events,
command logs, artifact content) are forwarded chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, OpenAPIResponse, Operation, Reference
from litestar.params import Body, Parameter, QueryParameter
from litestar.response import Stream

from hive.contracts.api import (
    ArtifactView,
    CommandStatus,
    DevTaskStatus,
    ReviewAction,
    StoredEvent,
)
from hive.gateway.dev_tasks.facade import (
    PLAN_EXAMPLE,
    DevTaskFacade,
    OpenStream,
    ProjectDevTaskCreate,
    task_path,
)
from hive.gateway.dev_tasks.gateway_urls import is_problem, rewrite_problem
from hive.gateway.dev_tasks.sandbox_client import SandboxReply
from hive.gateway.errors import UpstreamFailed
from hive.gateway.operators.guards import current_operator
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems
from hive.gateway.projects.controller import project_or_404, projects_of
from hive.gateway.projects.repository import ProjectRepository
from hive.gateway.runtime import Services

TASK = "/{task_id:str}"
MAX_BIGINT = 2**63 - 1  # positions are PostgreSQL bigints; larger values cannot exist
TASK_PROBLEMS = problems(*SESSION_PROBLEMS, 404, 409, 502)
REQUEUED = ResponseSpec(data_container=DevTaskStatus, description="Requeued as a new task")


def _media_type(content_type: str) -> str:
    # Litestar appends "; charset=utf-8" to every text/* type itself: drop the sandbox's.
    if content_type.startswith("text/"):
        return content_type.split(";", 1)[0].strip()
    return content_type


def _reply(request: Request[Any, Any, Any], reply: SandboxReply) -> Response[Any]:
    if reply.status >= 500:
        # The sandbox failed; to the dashboard that is an upstream failure of the gateway.
        raise UpstreamFailed(f"sandbox answered {reply.status}")
    body = reply.body
    if is_problem(reply.content_type):
        body = rewrite_problem(body, request.url.path)  # the sandbox's path 404s here
    return Response(
        content=body, status_code=reply.status, media_type=_media_type(reply.content_type)
    )


@dataclass
class _EventStreamOperation(Operation):
    """The events route also answers `text/event-stream` (Accept header or `follow=true`)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            # Each SSE event's data is one StoredEvent (event: its type, id: stream_version).
            ok.content["text/event-stream"] = OpenAPIMediaType(
                schema=Reference(ref="#/components/schemas/StoredEvent")
            )


def _stream(request: Request[Any, Any, Any], opened: OpenStream) -> Response[Any]:
    if opened.status >= 500:
        raise UpstreamFailed(f"sandbox answered {opened.status}")
    if opened.chunks is None:
        body = opened.body
        if is_problem(opened.content_type):
            body = rewrite_problem(body, request.url.path)
        return Response(
            content=body,
            status_code=opened.status,
            media_type=_media_type(opened.content_type),
            headers=opened.headers,
        )
    return Stream(
        opened.chunks,
        status_code=opened.status,
        media_type=_media_type(opened.content_type),
        headers={**opened.headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _facade(services: Services) -> DevTaskFacade:
    return services.dev_tasks


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


CREATE_EXAMPLES = [
    Example(
        summary="deterministic_proof: a fixed plan, no model",
        description="Always usable. `instructions` is a JSON plan, sent as a string.",
        value={"backend": "deterministic_proof", "instructions": PLAN_EXAMPLE},
    ),
    Example(
        summary="codex_cli: the Codex CLI with a model provider",
        description="Needs the `codex` binary (`make tools`) and a provider: "
        "HIVE_SANDBOX_CODEX_AUTH_MODE=relay with HIVE_MODEL_PROVIDERS on the gateway, or "
        "HIVE_SANDBOX_CODEX_PROVIDER_ID/_BASE_URL. The default backend.",
        value={
            "backend": "codex_cli",
            "instructions": "Add a hello.py that prints hello, and a test for it.",
            "target_paths": ["hello.py"],
        },
    ),
    Example(
        summary="relay_helper: Codex without any credential",
        description="Codex's model calls go through a helper holding one task token; "
        "needs the `codex` binary and HIVE_MODEL_PROVIDERS on the gateway.",
        value={"backend": "relay_helper", "instructions": "Fix the failing test in tests/."},
    ),
]


@post("/", status_code=201, responses=problems(*SESSION_PROBLEMS, 404, 409, 413, 502))
async def create_dev_task(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    data: Annotated[ProjectDevTaskCreate, Body(examples=CREATE_EXAMPLES)],
    projects: ProjectRepository,
) -> Response[DevTaskStatus]:
    """Create a Work Run in this project's workspace.

    The sandbox seeds the task's repository from the project's workspace and queues
    attempt 1; follow it with `GET .../events` (`Accept: text/event-stream`), review
    `GET .../patch`, then `POST .../approve` applies the patch to the workspace.
    422 when the backend cannot run here (the message says how to enable it) or a
    `deterministic_proof` plan is not valid (the message names the step and fault).
    """
    project = await project_or_404(projects, project_id)
    return _reply(request, await facade.create(project, data))


@get("/", responses=problems(*SESSION_PROBLEMS, 404, 502))
async def list_dev_tasks(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    projects: ProjectRepository,
    task_state: Annotated[str | None, QueryParameter(name="state")] = None,
    limit: int = Parameter(default=200, ge=1, le=1000),
    offset: int = Parameter(
        default=0, ge=0, le=MAX_BIGINT, description="Rows to skip (paging, newest first)."
    ),
    task_id_contains: str | None = Parameter(
        default=None, max_length=200, description="Only Work Runs whose id contains this."
    ),
) -> Response[list[DevTaskStatus]]:
    """This project's Work Runs, most recently updated first; `limit` + `offset` page them."""
    await project_or_404(projects, project_id)
    params = _params(
        state=task_state, limit=limit, offset=offset or None, task_id_contains=task_id_contains
    )
    return _reply(request, await facade.list(project_id, params))


@get(TASK, responses=TASK_PROBLEMS)
async def get_dev_task(
    request: Request[Any, Any, Any], facade: DevTaskFacade, project_id: str, task_id: str
) -> Response[DevTaskStatus]:
    """DevTaskStatus of one Work Run."""
    return _reply(request, await facade.status(project_id, task_id))


@get(TASK + "/events", responses=TASK_PROBLEMS, operation_class=_EventStreamOperation)
async def dev_task_events(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    task_id: str,
    after: int = Parameter(default=0, ge=0, le=MAX_BIGINT),
    limit: int = Parameter(default=1000, ge=1, le=10_000),
    follow: bool = False,
) -> Response[list[StoredEvent]]:
    """The task's typed event stream; `Accept: text/event-stream` (or follow) follows it live."""
    params = {"after": after, "limit": limit}
    if not (follow or "text/event-stream" in request.headers.get("accept", "")):
        return _reply(request, await facade.get(project_id, task_id, "/events", params))
    await facade.require_task(project_id, task_id)
    headers = {"Accept": "text/event-stream"}
    if last := request.headers.get("last-event-id"):
        headers["Last-Event-ID"] = last
    return _stream(
        request,
        await facade.open_stream(task_path(task_id, "/events"), params=params, headers=headers),
    )


@get(TASK + "/patch", responses=TASK_PROBLEMS, media_type="text/x-diff")
async def dev_task_patch(
    request: Request[Any, Any, Any], facade: DevTaskFacade, project_id: str, task_id: str
) -> Response[str]:
    """The proposed unified diff."""
    return _reply(request, await facade.get(project_id, task_id, "/patch"))


@get(TASK + "/artifacts", responses=TASK_PROBLEMS)
async def dev_task_artifacts(
    request: Request[Any, Any, Any], facade: DevTaskFacade, project_id: str, task_id: str
) -> Response[list[ArtifactView]]:
    """Persisted artifacts of the task."""
    return _reply(request, await facade.get(project_id, task_id, "/artifacts"))


@get(TASK + "/artifacts/{name:str}", responses=TASK_PROBLEMS, media_type="application/octet-stream")
async def dev_task_artifact(
    request: Request[Any, Any, Any], facade: DevTaskFacade, project_id: str, task_id: str, name: str
) -> Response[bytes]:
    """One artifact's content, streamed."""
    await facade.require_task(project_id, task_id)
    return _stream(
        request,
        await facade.open_stream(
            task_path(task_id, "/artifacts/" + quote(name, safe="")), params=None, headers=None
        ),
    )


@get(TASK + "/commands", responses=TASK_PROBLEMS)
async def dev_task_commands(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    task_id: str,
    command_state: Annotated[str | None, QueryParameter(name="state")] = None,
) -> Response[list[CommandStatus]]:
    """Governed commands (process sessions) the task ran."""
    return _reply(
        request,
        await facade.commands(project_id, task_id, _params(state=command_state)),
    )


@get(TASK + "/commands/{command_id:str}", responses=TASK_PROBLEMS)
async def dev_task_command(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    task_id: str,
    command_id: str,
) -> Response[CommandStatus]:
    """One command's status (bounded previews)."""
    return _reply(request, await facade.command(project_id, task_id, command_id))


@get(TASK + "/commands/{command_id:str}/log", responses=TASK_PROBLEMS, media_type="text/plain")
async def dev_task_command_log(
    request: Request[Any, Any, Any],
    facade: DevTaskFacade,
    project_id: str,
    task_id: str,
    command_id: str,
    stream: str = "stdout",
    offset: int | None = Parameter(default=None, ge=0, le=MAX_BIGINT),
    limit: int | None = Parameter(default=None, ge=1, le=MAX_BIGINT),
) -> Response[bytes]:
    """A command's full log, streamed; `X-Log-Size` and `X-Next-Offset` as the sandbox sets them."""
    await facade.require_command(project_id, task_id, command_id)
    return _stream(
        request,
        await facade.open_stream(
            "/commands/" + quote(command_id, safe="") + "/log",
            params=_params(stream=stream, offset=offset, limit=limit),
            headers=None,
        ),
    )


def _action_handler(action: str) -> Any:
    async def handler(
        request: Request[Any, Any, Any],
        facade: DevTaskFacade,
        project_id: str,
        task_id: str,
        data: ReviewAction | None = None,
    ) -> Response[DevTaskStatus]:
        body = ReviewAction(
            reason=data.reason if data is not None else None,
            actor=current_operator(request).username,  # the session decides who acts
        )
        return _reply(request, await facade.action(project_id, task_id, action, body))

    handler.__doc__ = f"{action.capitalize()} the task (the operator is recorded as actor)."
    handler.__name__ = f"{action}_dev_task"
    return post(
        TASK + f"/{action}",
        status_code=200,
        responses={**TASK_PROBLEMS, 201: REQUEUED} if action == "requeue" else TASK_PROBLEMS,
        operation_id=f"{action}DevTask",
    )(handler)


def router() -> Router:
    """The dev-task routes (mounted behind the operator session)."""
    return Router(
        path="/api/projects/{project_id:str}/dev-tasks",
        dependencies={
            "facade": Provide(_facade, sync_to_thread=False),
            "projects": Provide(projects_of, sync_to_thread=False),
        },
        route_handlers=[
            create_dev_task,
            list_dev_tasks,
            get_dev_task,
            dev_task_events,
            dev_task_patch,
            dev_task_artifacts,
            dev_task_artifact,
            dev_task_commands,
            dev_task_command,
            dev_task_command_log,
            *(_action_handler(a) for a in ("approve", "reject", "resume", "requeue", "cancel")),
        ],
        tags=["dev-tasks"],
    )
