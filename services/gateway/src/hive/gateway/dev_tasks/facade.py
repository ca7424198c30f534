"""The project-scoped dev-task facade over the sandbox's `/dev-tasks` routes.

A task is reachable only through its own project: every call first
establishes that the task belongs to the project in the path (404 otherwise,
the same answer as for a task that does not exist, so other projects' task ids
are not revealed). Ownership never changes once a task exists, so it is
remembered in a bounded in-memory map after the first lookup.

Bodies are passed through as the sandbox wrote them; the facade decodes only
the fields it must check (`project_id`, a command's `task_id`) and the URLs
it must rewrite (`gateway_urls`: command log URLs, problem instances).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import msgspec

from hive.contracts.api import CreateDevTask, Project, ReviewAction, WorkspaceSpec
from hive.contracts.problems import UpstreamAnswer
from hive.gateway.dev_tasks.admission import BackendAdmission
from hive.gateway.dev_tasks.gateway_urls import rewrite_commands
from hive.gateway.dev_tasks.sandbox_client import SandboxClient, SandboxReply
from hive.gateway.dev_tasks.workspace_seed import WorkspaceTooLarge, archive_b64
from hive.gateway.errors import GatewayError, Invalid, NotFound, TooLarge
from hive.gateway.platform.identifiers import check_id

ACTIONS = ("approve", "reject", "resume", "requeue", "cancel")

PLAN_EXAMPLE = json.dumps(
    {
        "steps": [
            {"write": {"path": "hello.py", "content": "print('hello')\n"}},
            {"run": {"argv": ["python3", "hello.py"]}},
        ]
    }
)
"""A `deterministic_proof` plan (the instructions are this JSON, as a string)."""


class ProjectDevTaskCreate(msgspec.Struct, kw_only=True):
    """POST /api/projects/{project_id}/dev-tasks: a Work Run in the project's workspace.

    The project supplies the workspace: the sandbox seeds the task's repository from
    it, and an approved patch is applied back to it.
    """

    instructions: Annotated[
        str,
        msgspec.Meta(
            description=(
                "What the backend should do. `codex_cli` and `relay_helper`: plain-language "
                "instructions for the coding agent. `deterministic_proof` (no model): a JSON "
                'plan as a string, `{"steps": [...]}`, each step one of '
                '`{"write": {"path", "content"}}` (a file in the repo), '
                '`{"run": {"argv": [...]}}` (a governed command; non-zero exit fails the '
                'attempt), `{"sleep": {"seconds"}}`, `{"artifact": {"name", "content"}}`, '
                '`{"fail": {"on_attempt": N}}` (fails attempt N on purpose). A plan that is '
                "not valid is refused with 422 naming the step and the fault."
            ),
            examples=[PLAN_EXAMPLE],
        ),
    ]
    backend: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "`codex_cli`, `relay_helper` or `deterministic_proof`; default: the sandbox's "
                "HIVE_SANDBOX_CODING_BACKEND (`codex_cli`). A backend that cannot run (no "
                "`codex` binary, no model provider) is refused with 422 saying how to enable "
                "it; the sandbox's /healthz `backends` lists which are usable."
            ),
            examples=["deterministic_proof"],
        ),
    ] = None
    target_paths: Annotated[
        list[str],
        msgspec.Meta(description="Repo-relative paths the task is about (informational)."),
    ] = []
    task_id: Annotated[
        str | None,
        msgspec.Meta(
            description="Your own task id (letters, digits, `-`, `_`); default: generated."
        ),
    ] = None


class _TaskOwner(msgspec.Struct):
    task_id: str
    project_id: str


class _CommandOwner(msgspec.Struct):
    command_id: str
    task_id: str | None = None


_task_owner = msgspec.json.Decoder(_TaskOwner)
_command_owner = msgspec.json.Decoder(_CommandOwner)
_encoder = msgspec.json.Encoder()


class Owners:
    """Bounded memory of task -> project and command -> task (both immutable facts)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._map: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> str | None:
        """The remembered owner, refreshing its recency."""
        owner = self._map.get(key)
        if owner is not None:
            self._map.move_to_end(key)
        return owner

    def put(self, key: str, owner: str) -> None:
        """Remember an owner."""
        self._map[key] = owner
        self._map.move_to_end(key)
        if len(self._map) > self._capacity:
            self._map.popitem(last=False)


def _not_found(what: str) -> GatewayError:
    return NotFound(f"{what} not found in this project")


def refuse_nul(*values: str | None) -> None:
    """422 when a text field holds NUL: PostgreSQL (text, jsonb) cannot store it."""
    if any(v is not None and "\x00" in v for v in values):
        raise Invalid("text must not contain NUL")


def task_path(task_id: str, sub: str = "") -> str:
    """The sandbox path of a task (the id percent-encoded as one segment)."""
    return f"/dev-tasks/{quote(task_id, safe='')}{sub}"


@dataclass(slots=True)
class OpenStream:
    """A sandbox stream ready to be forwarded (or its complete error answer)."""

    status: int
    content_type: str
    headers: dict[str, str]
    chunks: AsyncIterator[bytes] | None = None
    body: bytes = b""


async def until_drained(
    chunks: AsyncIterator[bytes], draining: asyncio.Event
) -> AsyncIterator[bytes]:
    """Forward `chunks` until they end or the gateway starts draining (SIGTERM)."""
    stop = asyncio.ensure_future(draining.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait({nxt, stop}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                return
            try:
                yield nxt.result()
            except StopAsyncIteration:
                return
    finally:
        stop.cancel()


class DevTaskFacade:
    """Project-scoped calls to the sandbox."""

    def __init__(
        self,
        sandbox: SandboxClient,
        *,
        seed_with_archive: bool,
        archive_max_bytes: int,
        draining: asyncio.Event,
        admission: BackendAdmission | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.admission = admission
        self.seed_with_archive = seed_with_archive
        self.archive_max_bytes = archive_max_bytes
        self.owners = Owners()
        self.draining = draining

    # -- ownership -------------------------------------------------------------------

    def _learn(self, body: bytes) -> _TaskOwner | None:
        try:
            owner = _task_owner.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        self.owners.put(owner.task_id, owner.project_id)
        return owner

    async def require_task(self, project_id: str, task_id: str) -> None:
        """404 unless `task_id` exists and belongs to `project_id`."""
        check_id(task_id, "dev task")
        owner = self.owners.get(task_id)
        if owner is None:
            reply = await self.sandbox.request("GET", task_path(task_id))
            if reply.status == 404:
                raise _not_found("dev task")
            if reply.status != 200:
                raise _passthrough_error(reply)
            learned = self._learn(reply.body)
            owner = learned.project_id if learned is not None else None
        if owner != project_id:
            raise _not_found("dev task")

    async def require_command(self, project_id: str, task_id: str, command_id: str) -> None:
        """404 unless the command ran for this task of this project."""
        await self.require_task(project_id, task_id)
        key = "cmd:" + check_id(command_id, "command")
        owner = self.owners.get(key)
        if owner is None:
            reply = await self.sandbox.request("GET", "/commands/" + quote(command_id, safe=""))
            if reply.status != 200:
                raise _not_found("command")
            try:
                owner = _command_owner.decode(reply.body).task_id
            except (msgspec.DecodeError, msgspec.ValidationError):
                owner = None
            if owner is not None:
                self.owners.put(key, owner)
        if owner != task_id:
            raise _not_found("command")

    # -- calls -------------------------------------------------------------------------

    async def create(self, project: Project, body: ProjectDevTaskCreate) -> SandboxReply:
        """Create a Work Run in the project's workspace (seeded by archive if needed)."""
        refuse_nul(body.instructions, body.backend, body.task_id, *body.target_paths)
        workspace = Path(project.workspace_path)
        if not await asyncio.to_thread(workspace.is_dir):
            raise Invalid(
                f"the project's workspace {workspace} is missing (removed after the project "
                "was created?): recreate the directory, or create a project for another one",
            )
        if self.admission is not None:
            await self.admission.check(body.backend)
        archive = None
        if self.seed_with_archive:
            try:
                archive = await asyncio.to_thread(archive_b64, workspace, self.archive_max_bytes)
            except WorkspaceTooLarge as exc:
                raise TooLarge(str(exc)) from exc
            except OSError as exc:
                raise Invalid(f"workspace unreadable: {exc.strerror}") from exc
        request = CreateDevTask(
            project_id=project.project_id,
            instructions=body.instructions,
            backend=body.backend,
            target_paths=body.target_paths,
            task_id=body.task_id,
            workspace=WorkspaceSpec(requested_path=project.workspace_path, archive_b64=archive),
        )
        reply = await self.sandbox.request("POST", "/dev-tasks", content=_encoder.encode(request))
        if reply.status < 300:
            self._learn(reply.body)
        return reply

    async def list(self, project_id: str, params: Mapping[str, Any]) -> SandboxReply:
        """The project's tasks (the sandbox filters; the facade re-checks every item)."""
        reply = await self.sandbox.request(
            "GET", "/dev-tasks", params={**params, "project_id": project_id}
        )
        if reply.status != 200:
            return reply
        doc = msgspec.json.decode(reply.body)
        items = (
            doc if isinstance(doc, list) else doc.get("items", []) if isinstance(doc, dict) else []
        )
        mine = [t for t in items if isinstance(t, dict) and t.get("project_id") == project_id]
        for t in mine:
            if isinstance(t.get("task_id"), str):
                self.owners.put(t["task_id"], project_id)
        out: Any = mine if isinstance(doc, list) else {**doc, "items": mine}
        return SandboxReply(reply.status, reply.content_type, _encoder.encode(out), reply.headers)

    async def status(self, project_id: str, task_id: str) -> SandboxReply:
        """DevTaskStatus of a task of this project (one sandbox call)."""
        check_id(task_id, "dev task")
        known = self.owners.get(task_id)
        if known is not None and known != project_id:
            raise _not_found("dev task")
        reply = await self.sandbox.request("GET", task_path(task_id))
        if reply.status == 404:
            raise _not_found("dev task")
        if reply.status == 200:
            owner = self._learn(reply.body)
            if owner is None or owner.project_id != project_id:
                raise _not_found("dev task")
        return reply

    async def get(
        self, project_id: str, task_id: str, subpath: str, params: Mapping[str, Any] | None = None
    ) -> SandboxReply:
        """A read-only sub-resource of a task (events, patch, artifacts, commands)."""
        await self.require_task(project_id, task_id)
        return await self.sandbox.request("GET", task_path(task_id, subpath), params=params)

    async def commands(
        self, project_id: str, task_id: str, params: Mapping[str, Any]
    ) -> SandboxReply:
        """Governed commands (process sessions) of one task."""
        await self.require_task(project_id, task_id)
        reply = await self.sandbox.request(
            "GET", "/commands", params={**params, "task_id": task_id}
        )
        return _with_gateway_urls(reply, project_id, task_id)

    async def command(self, project_id: str, task_id: str, command_id: str) -> SandboxReply:
        """One command's status."""
        await self.require_command(project_id, task_id, command_id)
        reply = await self.sandbox.request("GET", "/commands/" + quote(command_id, safe=""))
        return _with_gateway_urls(reply, project_id, task_id)

    async def action(
        self, project_id: str, task_id: str, action: str, body: ReviewAction
    ) -> SandboxReply:
        """approve / reject / resume / requeue / cancel, with the operator as actor."""
        refuse_nul(body.reason)
        await self.require_task(project_id, task_id)
        reply = await self.sandbox.request(
            "POST", task_path(task_id, "/" + action), content=_encoder.encode(body)
        )
        if reply.status < 300:
            self._learn(reply.body)  # requeue answers with the new task (same project)
        return reply

    async def open_stream(
        self, path: str, *, params: Mapping[str, Any] | None, headers: Mapping[str, str] | None
    ) -> OpenStream:
        """Open a sandbox stream; the chunks end with the stream or when draining starts."""
        stack = AsyncExitStack()
        resp = await stack.enter_async_context(
            self.sandbox.stream(path, params=params, headers=headers)
        )
        content_type = resp.headers.get("Content-Type", "application/octet-stream")
        passed = {
            k: v
            for k, v in resp.headers.items()
            if k.lower() in ("x-log-size", "x-next-offset", "content-disposition", "x-sha256")
        }
        if resp.status >= 400:
            body = await resp.read()
            await stack.aclose()
            return OpenStream(resp.status, content_type, passed, body=body)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in until_drained(resp.chunks(), self.draining):
                    yield chunk
            finally:
                await stack.aclose()

        return OpenStream(resp.status, content_type, passed, chunks=chunks())


def _with_gateway_urls(reply: SandboxReply, project_id: str, task_id: str) -> SandboxReply:
    if reply.status != 200:
        return reply
    body = rewrite_commands(reply.body, project_id, task_id)
    return SandboxReply(reply.status, reply.content_type, body, reply.headers)


def _passthrough_error(reply: SandboxReply) -> UpstreamAnswer:
    # A 4xx keeps the sandbox's status; anything else is the gateway's 502.
    return UpstreamAnswer(reply.status, f"sandbox answered {reply.status}")
