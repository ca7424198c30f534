"""/commands: governed commands and process sessions over HTTP (a thin layer over GovernedCommands)."""

from __future__ import annotations

from typing import Any, get_args

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Stream

from hive.contracts.api import CommandStatus, CreateCommand
from hive.contracts.errors import ErrorCode
from hive.contracts.events import CommandState
from hive.sandbox.auth import require_task_access
from hive.sandbox.commands import GovernedCommands, PolicyViolation
from hive.sandbox.commands.logs import DEFAULT_RANGE, MAX_RANGE, read_range

_STATES = frozenset(get_args(CommandState))
_STREAMS = frozenset({"stdout", "stderr"})


def _commands(request: Request[Any, Any, Any]) -> GovernedCommands:
    commands: GovernedCommands = request.app.state.commands
    return commands


def _is_task_token(request: Request[Any, Any, Any]) -> bool:
    return request.scope.get("state", {}).get("caller") is not None


async def _authorize(request: Request[Any, Any, Any], command_id: str) -> GovernedCommands:
    """404 for an unknown command; 403 when a task token reaches another task's command."""
    commands = _commands(request)
    task_id = await commands.task_of(command_id)
    require_task_access(request, task_id)
    return commands


_create_decoder = msgspec.json.Decoder(CreateCommand)


def _decode_create(raw: bytes) -> CreateCommand:
    try:
        body = _create_decoder.decode(raw)
    except msgspec.DecodeError:
        pass  # malformed: find out below whether it carried `env` all the same
    else:
        if body.env is msgspec.UNSET:
            return body
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "the body must be JSON") from exc
    if isinstance(data, dict) and "env" in data:
        # Any value, even null or {}: the child's env is never the caller's.
        raise PolicyViolation(
            ErrorCode.ENV_OVERRIDE_REJECTED,
            "governed commands run with the sandbox's scrubbed environment; `env` is refused",
        )
    if not isinstance(data, dict):
        raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "the body must be a JSON object")
    try:
        return msgspec.convert(data, CreateCommand)
    except msgspec.ValidationError as exc:
        raise PolicyViolation(ErrorCode.VALIDATION_FAILED, str(exc)) from exc


class CommandsController(Controller):
    """POST/GET /commands, status, long-poll, ranged logs, cancel."""

    path = "/commands"

    @post("/", status_code=201)
    async def create(self, request: Request[Any, Any, Any]) -> CommandStatus:
        """Start a governed command; 201 with its CommandStatus."""
        body = _decode_create(await request.body())
        require_task_access(request, body.task_id)
        return await _commands(request).start(
            body.argv, body.cwd, body.task_id, body.timeout_s, wait_recorded=False
        )

    @get("/")
    async def list_commands(
        self,
        request: Request[Any, Any, Any],
        state_filter: str | None = Parameter(query="state", default=None),
        task_id: str | None = None,
        limit: int = 100,
    ) -> list[CommandStatus]:
        """Process sessions, newest first; filter by `state` and `task_id`."""
        state = state_filter  # `state` is a reserved Litestar parameter name
        if state is not None and state not in _STATES:
            raise PolicyViolation(
                ErrorCode.VALIDATION_FAILED, f"state must be one of {sorted(_STATES)}"
            )
        if _is_task_token(request):
            require_task_access(request, task_id)
        return await _commands(request).list(state=state, task_id=task_id, limit=limit)

    @get("/{command_id:str}")
    async def status(self, request: Request[Any, Any, Any], command_id: str) -> CommandStatus:
        """One command's CommandStatus."""
        return await (await _authorize(request, command_id)).status(command_id)

    @get("/{command_id:str}/poll")
    async def poll(
        self, request: Request[Any, Any, Any], command_id: str, timeout_s: float = 30.0
    ) -> CommandStatus:
        """Long-poll: answers when the command reaches a final state, or after `timeout_s`."""
        return await (await _authorize(request, command_id)).wait(command_id, timeout_s)

    @get("/{command_id:str}/log")
    async def log(
        self,
        request: Request[Any, Any, Any],
        command_id: str,
        stream: str = "stdout",
        offset: int = 0,
        limit: int = DEFAULT_RANGE,
    ) -> Stream:
        """Raw bytes [offset, offset+limit) of a log; X-Log-Size and X-Next-Offset headers."""
        if stream not in _STREAMS:
            raise PolicyViolation(ErrorCode.VALIDATION_FAILED, "stream must be stdout or stderr")
        if offset < 0 or not 0 <= limit <= MAX_RANGE:
            raise PolicyViolation(
                ErrorCode.VALIDATION_FAILED, f"offset >= 0 and 0 <= limit <= {MAX_RANGE}"
            )
        commands = await _authorize(request, command_id)
        size, next_offset, chunks = read_range(commands.log_path(command_id, stream), offset, limit)
        start = min(offset, size)
        return Stream(
            chunks,
            media_type="application/octet-stream",
            headers={
                "X-Log-Size": str(size),
                "X-Next-Offset": str(next_offset),
                "Content-Length": str(next_offset - start),
            },
        )

    @post("/{command_id:str}/cancel", status_code=200)
    async def cancel(self, request: Request[Any, Any, Any], command_id: str) -> CommandStatus:
        """TERM the process group, KILL after the grace period; the final CommandStatus."""
        return await (await _authorize(request, command_id)).cancel(command_id)
