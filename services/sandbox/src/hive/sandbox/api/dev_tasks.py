"""/dev-tasks: Work Runs over HTTP (paths and fields per ARCHITECTURE.md).

Every route but create and list accepts a task token scoped to that task as
well as the internal secret; create and list need the internal secret. Domain
errors (hive.sandbox.workruns.errors) carry their codes; the app's problem+json
plugin maps them, like every other refusal.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from hive.contracts.api import (
    ArtifactView,
    CheckpointAccepted,
    CreateDevTask,
    DevTaskStatus,
    RecordCheckpoint,
    ReviewAction,
)
from hive.contracts.http import refuse_deep_json
from hive.sandbox.auth import require_task_access
from hive.sandbox.errors import Forbidden, Unavailable
from hive.sandbox.workruns.errors import InvalidRequest
from hive.sandbox.workruns.service import WorkRuns

SSE_POLL_S = 0.25
SSE_KEEPALIVE_S = 15.0
# Stream versions are bigint and attempt numbers integer columns: larger values are
# refused here rather than overflowing in the driver.
MAX_VERSION = 2**63 - 1
AttemptNo = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class ArtifactUpload(msgspec.Struct, kw_only=True):
    """POST /dev-tasks/{task_id}/artifacts: `content_b64` (bytes) or `content` (text)."""

    name: str
    content_b64: str | None = None
    content: str | None = None
    content_type: str | None = None
    attempt_no: AttemptNo | None = None


class HeartbeatRequest(msgspec.Struct, kw_only=True):
    """POST /dev-tasks/{task_id}/heartbeat (body optional)."""

    attempt_no: AttemptNo | None = None


class HeartbeatAccepted(msgspec.Struct, kw_only=True):
    """The renewed lease."""

    task_id: str
    attempt_no: int
    heartbeat_at: datetime | None
    expires_at: datetime | None
    cancel_requested: bool


class _EventStream(ServerSentEvent):
    """SSE that keeps its media type: Litestar lets the handler's (JSON) default win."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["media_type"] = "text/event-stream"
        return super().to_asgi_response(*args, **kwargs)


def _service(request: Request[Any, Any, Any]) -> WorkRuns:
    service: WorkRuns | None = request.app.state.get("workruns")
    if service is None:
        raise Unavailable("Work Runs are not ready yet")
    return service


def _internal_only(request: Request[Any, Any, Any]) -> None:
    if request.scope.get("state", {}).get("caller") is not None:
        raise Forbidden("this route needs the internal secret")


def _reviewer(request: Request[Any, Any, Any]) -> WorkRuns:
    """Review and recovery belong to operators: only the internal secret (the gateway,
    acting for the operator it authenticated and naming them as `actor`) may approve,
    reject, resume, requeue or cancel. A task token, the credential a Work Run's own
    code holds, never can: the code under review must not approve itself."""
    if request.scope.get("state", {}).get("caller") is not None:
        raise Forbidden(
            "review and recovery actions need the internal secret (an operator through "
            "the gateway); task tokens cannot approve, reject, resume, requeue or cancel",
        )
    return _service(request)


def _task(request: Request[Any, Any, Any], task_id: str) -> WorkRuns:
    require_task_access(request, task_id)
    return _service(request)


class DevTaskController(Controller):
    """Work Runs: create, watch, checkpoint, review, recover."""

    path = "/dev-tasks"

    @post("/", status_code=201)
    async def create(self, request: Request[Any, Any, Any], data: CreateDevTask) -> DevTaskStatus:
        """Create a Work Run (seed, stream, attempt 1 queued)."""
        _internal_only(request)
        return await _service(request).create(data)

    @get("/")
    async def list_tasks(
        self,
        request: Request[Any, Any, Any],
        project_id: str | None = None,
        task_state: str | None = Parameter(query="state", default=None),
        limit: int = Parameter(default=200, ge=1, le=1000),
        offset: int = Parameter(default=0, ge=0, le=MAX_VERSION),
        task_id_contains: str | None = Parameter(default=None, max_length=200),
    ) -> list[DevTaskStatus]:
        """Work Runs from the read model, newest first (filters `project_id`, `state`,
        `task_id_contains`; `offset` pages)."""
        _internal_only(request)
        return await _service(request).list_tasks(
            project_id=project_id,
            state=task_state,
            limit=limit,
            offset=offset,
            task_id_contains=task_id_contains,
        )

    @get("/{task_id:str}")
    async def status(self, request: Request[Any, Any, Any], task_id: str) -> DevTaskStatus:
        """DevTaskStatus (the live fold plus the lease heartbeat)."""
        return await _task(request, task_id).status(task_id)

    @get("/{task_id:str}/events")
    async def events(
        self,
        request: Request[Any, Any, Any],
        task_id: str,
        after: int = Parameter(default=0, ge=0, le=MAX_VERSION),
        limit: int = Parameter(default=1000, ge=1, le=10_000),
        follow: bool = False,
    ) -> Any:
        """The typed stream after version `after`; SSE follows it live."""
        service = _task(request, task_id)
        wants_sse = "text/event-stream" in request.headers.get("accept", "")
        if not (follow or wants_sse):
            return await service.events(task_id, after=after, limit=limit)
        last_id = request.headers.get("last-event-id")
        if last_id and last_id.isascii() and last_id.isdigit():
            after = max(after, min(int(last_id), MAX_VERSION))
        await service.load(task_id)  # 404 before the stream starts
        return _EventStream(_follow(service, task_id, after))

    @post("/{task_id:str}/checkpoints", status_code=201)
    async def checkpoint(
        self, request: Request[Any, Any, Any], task_id: str, data: RecordCheckpoint
    ) -> CheckpointAccepted:
        """Record a checkpoint of the running attempt."""
        refuse_deep_json(data.checkpoint_payload, "checkpoint_payload")
        return await _task(request, task_id).record_checkpoint(
            task_id, data.checkpoint_payload, durable=data.durable
        )

    @post("/{task_id:str}/heartbeat", status_code=200)
    async def heartbeat(
        self, request: Request[Any, Any, Any], task_id: str, data: HeartbeatRequest | None = None
    ) -> HeartbeatAccepted:
        """Renew the running attempt's lease (a row, not an event)."""
        lease = await _task(request, task_id).heartbeat(
            task_id, attempt_no=data.attempt_no if data else None
        )
        return HeartbeatAccepted(
            task_id=task_id,
            attempt_no=lease.attempt_no,
            heartbeat_at=lease.heartbeat_at,
            expires_at=lease.expires_at,
            cancel_requested=lease.cancel_requested,
        )

    @get("/{task_id:str}/artifacts")
    async def artifacts(self, request: Request[Any, Any, Any], task_id: str) -> list[ArtifactView]:
        """Every persisted artifact, across attempts."""
        return (await _task(request, task_id).status(task_id)).artifacts

    @post("/{task_id:str}/artifacts", status_code=201)
    async def add_artifact(
        self, request: Request[Any, Any, Any], task_id: str, data: ArtifactUpload
    ) -> ArtifactView:
        """Persist an artifact (bytes in PostgreSQL, size and sha256 on the stream)."""
        if (data.content_b64 is None) == (data.content is None):
            raise InvalidRequest("send exactly one of content_b64 and content")
        if data.content_b64 is not None:
            try:
                content = base64.b64decode(data.content_b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidRequest("content_b64 is not valid base64") from exc
            content_type = data.content_type or "application/octet-stream"
        else:
            content = (data.content or "").encode()
            content_type = data.content_type or "text/plain; charset=utf-8"
        status = await _task(request, task_id).add_artifact(
            task_id, data.name, content, content_type=content_type, attempt_no=data.attempt_no
        )
        return next(a for a in status.artifacts if a.name == data.name)

    @get("/{task_id:str}/artifacts/{name:str}")
    async def artifact(
        self, request: Request[Any, Any, Any], task_id: str, name: str
    ) -> Response[bytes]:
        """One artifact's bytes."""
        found = await _task(request, task_id).artifact(task_id, name)
        return Response(
            found.content,
            media_type=found.content_type,
            headers={
                "X-Artifact-Sha256": found.sha256,
                "X-Artifact-Attempt": str(found.attempt_no),
            },
        )

    @get("/{task_id:str}/patch")
    async def patch(self, request: Request[Any, Any, Any], task_id: str) -> Response[bytes]:
        """The proposed unified diff against the seed."""
        diff = await _task(request, task_id).patch(task_id)
        return Response(diff, media_type="text/x-diff")

    @post("/{task_id:str}/approve", status_code=200)
    async def approve(
        self, request: Request[Any, Any, Any], task_id: str, data: ReviewAction | None = None
    ) -> DevTaskStatus:
        """Approve the patch and apply it back."""
        return await _reviewer(request).approve(task_id, actor=data.actor if data else None)

    @post("/{task_id:str}/reject", status_code=200)
    async def reject(
        self, request: Request[Any, Any, Any], task_id: str, data: ReviewAction | None = None
    ) -> DevTaskStatus:
        """Reject the patch."""
        return await _reviewer(request).reject(
            task_id, reason=data.reason if data else None, actor=data.actor if data else None
        )

    @post("/{task_id:str}/resume", status_code=200)
    async def resume(
        self, request: Request[Any, Any, Any], task_id: str, data: ReviewAction | None = None
    ) -> DevTaskStatus:
        """A new attempt in place, from the latest durable checkpoint."""
        return await _reviewer(request).resume(task_id)

    @post("/{task_id:str}/requeue", status_code=201)
    async def requeue(
        self, request: Request[Any, Any, Any], task_id: str, data: ReviewAction | None = None
    ) -> DevTaskStatus:
        """A new logical task from the original seed; answers the new task."""
        return await _reviewer(request).requeue(task_id, reason=data.reason if data else None)

    @post("/{task_id:str}/cancel", status_code=200)
    async def cancel(
        self, request: Request[Any, Any, Any], task_id: str, data: ReviewAction | None = None
    ) -> DevTaskStatus:
        """Cancel the task (a running attempt is told to stop)."""
        return await _reviewer(request).cancel(
            task_id, reason=data.reason if data else None, actor=data.actor if data else None
        )


async def _follow(
    service: WorkRuns, task_id: str, after: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Every event after `after`, then new ones as they commit (until the client leaves)."""
    last_sent = time.monotonic()
    while True:
        batch = await service.events(task_id, after=after, limit=500)
        for e in batch:
            after = e.stream_version
            yield ServerSentEventMessage(
                data=msgspec.json.encode(e).decode(), event=e.event_type, id=e.stream_version
            )
        if batch:
            last_sent = time.monotonic()
            continue
        if time.monotonic() - last_sent > SSE_KEEPALIVE_S:
            yield ServerSentEventMessage(comment="keepalive")
            last_sent = time.monotonic()
        await asyncio.sleep(SSE_POLL_S)
