"""GET, POST /api/projects; GET /api/projects/{project_id}."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.di import Provide
from litestar.openapi.spec import Example
from litestar.params import Body

from hive.contracts.api import Project, ProjectCreate
from hive.gateway.errors import Conflict, Invalid, NotFound
from hive.gateway.operators.guards import current_operator
from hive.gateway.platform.identifiers import check_id
from hive.gateway.platform.openapi_problems import SESSION_PROBLEMS, problems
from hive.gateway.projects.repository import (
    DuplicateProject,
    ProjectError,
    ProjectRepository,
    WorkspaceTaken,
    check_name,
    workspace_for,
)
from hive.gateway.projects.workspace import WorkspaceUnusable, discard_workspace, ensure_workspace
from hive.gateway.runtime import GatewayRuntime, Services

PROJECT_EXAMPLES = [
    Example(
        summary="A new workspace under HIVE_WORKSPACE",
        description="The gateway creates HIVE_WORKSPACE/demo as an empty git repository.",
        value={"name": "demo"},
    ),
    Example(
        summary="An existing checkout",
        description="An existing directory is used as it is (absolute, or relative to "
        "HIVE_WORKSPACE); a missing one is created only under HIVE_WORKSPACE.",
        value={"name": "my-service", "workspace_path": "/home/me/src/my-service"},
    ),
]


def projects_of(services: Services) -> ProjectRepository:
    """Dependency `projects`: the project repository."""
    return services.projects


async def project_or_404(projects: ProjectRepository, project_id: str) -> Project:
    """The project, or 404."""
    project = await projects.get(check_id(project_id, "project"))
    if project is None:
        raise NotFound("no such project")
    return project


@get("/api/projects", responses=problems(*SESSION_PROBLEMS), tags=["projects"])
async def list_projects(projects: ProjectRepository) -> list[Project]:
    """Every project."""
    return await projects.list()


@post(
    "/api/projects",
    status_code=201,
    responses=problems(*SESSION_PROBLEMS, 409),
    tags=["projects"],
)
async def create_project(
    request: Request[Any, Any, Any],
    data: Annotated[ProjectCreate, Body(examples=PROJECT_EXAMPLES)],
    rt: GatewayRuntime,
    projects: ProjectRepository,
) -> Project:
    """Create a project and make its workspace usable.

    Without `workspace_path` the workspace is `HIVE_WORKSPACE/<name as a slug>`;
    a relative path stays inside HIVE_WORKSPACE; an absolute path is used as
    given. An existing directory is used as it is; a missing one under
    HIVE_WORKSPACE is created as an empty git repository with an initial commit
    (elsewhere it must exist already). 409 when the name is taken or
    another project already uses the same directory; 422 naming the cause when
    the directory cannot be used or created.
    """
    try:
        name = check_name(data.name)
        path = workspace_for(rt.settings.workspace, name, data.workspace_path)
    except ProjectError as exc:
        raise Invalid(str(exc)) from exc
    directory = Path(path)
    try:
        return await projects.create(
            name,
            path,
            current_operator(request).username,
            prepare=lambda: ensure_workspace(directory, rt.settings.workspace),
            discard=lambda: discard_workspace(directory),
        )
    except DuplicateProject as exc:
        raise Conflict(f"a project named {name!r} exists") from exc
    except WorkspaceTaken as exc:
        raise Conflict(
            f"{exc}; two projects cannot share a workspace "
            "(give another name or an explicit workspace_path)",
        ) from exc
    except WorkspaceUnusable as exc:
        raise Invalid(str(exc)) from exc


@get(
    "/api/projects/{project_id:str}",
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["projects"],
)
async def get_project(projects: ProjectRepository, project_id: str) -> Project:
    """One project."""
    return await project_or_404(projects, project_id)


def router() -> Router:
    """The project routes (mounted behind the operator session)."""
    return Router(
        path="/",
        dependencies={"projects": Provide(projects_of, sync_to_thread=False)},
        route_handlers=[list_projects, create_project, get_project],
    )
