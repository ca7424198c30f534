"""GET, POST /api/projects; GET /api/projects/{project_id}."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post

from hive.contracts.api import Project, ProjectCreate
from hive.contracts.errors import ErrorCode
from hive.contracts.http import HiveHTTPError
from hive.gateway.api.docs import SESSION_PROBLEMS, problems
from hive.gateway.auth import current_operator, runtime_of
from hive.gateway.identifiers import check_id
from hive.gateway.projects import DuplicateProject, ProjectError, check_name, workspace_for
from hive.gateway.runtime import Services


async def project_or_404(services: Services, project_id: str) -> Project:
    """The project, or 404."""
    project = await services.projects.get(check_id(project_id, "project"))
    if project is None:
        raise HiveHTTPError(404, ErrorCode.NOT_FOUND, "no such project")
    return project


@get("/api/projects", responses=problems(*SESSION_PROBLEMS), tags=["projects"])
async def list_projects(request: Request[Any, Any, Any]) -> list[Project]:
    """Every project."""
    return await runtime_of(request).require().projects.list()


@post(
    "/api/projects",
    status_code=201,
    responses=problems(*SESSION_PROBLEMS, 409),
    tags=["projects"],
)
async def create_project(request: Request[Any, Any, Any], data: ProjectCreate) -> Project:
    """Create a project; its workspace is under HIVE_WORKSPACE unless given absolute."""
    rt = runtime_of(request)
    try:
        name = check_name(data.name)
        path = workspace_for(rt.settings.workspace, name, data.workspace_path)
    except ProjectError as exc:
        raise HiveHTTPError(422, ErrorCode.VALIDATION_FAILED, str(exc)) from exc
    try:
        return await rt.require().projects.create(name, path, current_operator(request).username)
    except DuplicateProject as exc:
        raise HiveHTTPError(409, ErrorCode.CONFLICT, f"a project named {name!r} exists") from exc


@get(
    "/api/projects/{project_id:str}",
    responses=problems(*SESSION_PROBLEMS, 404),
    tags=["projects"],
)
async def get_project(request: Request[Any, Any, Any], project_id: str) -> Project:
    """One project."""
    return await project_or_404(runtime_of(request).require(), project_id)
