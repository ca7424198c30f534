"""`codex exec --json` events -> Work Run checkpoints, command records and the outcome.

Codex prints one JSON object per line on stdout: `thread.started`,
`turn.started`, `item.started` / `item.updated` / `item.completed` (items:
`agent_message`, `reasoning`, `command_execution`, `file_change`, `todo_list`,
`error` — a warning, not fatal), `error` (reconnect notices),
`turn.completed` and `turn.failed`. `CodexEventMapper` is a pure fold over
those lines: each `feed` returns the effects the backend performs (record a
command, record a durable checkpoint), and `finish` decides the attempt's
outcome from the fold and the exit code.

Each checkpoint carries the attempt's cumulative `progress` (files changed,
recent commands, the last message), so the latest durable checkpoint alone is
enough context for a resumed attempt.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

MAX_COMMANDS: Final = 20
MAX_FILES: Final = 200
MAX_TEXT: Final = 2000


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class CommandBegan:
    """Codex started a shell command (record CommandStarted)."""

    item_id: str
    command: str
    argv: list[str]


@dataclass(frozen=True, slots=True)
class CommandEnded:
    """A shell command finished (record CommandFinished)."""

    item_id: str
    command: str
    exit_code: int | None
    status: str
    output_bytes: int


@dataclass(frozen=True, slots=True)
class CheckpointDue:
    """A completed item changed files or ran a command: record a durable checkpoint."""

    payload: dict[str, Any]


Effect = CommandBegan | CommandEnded | CheckpointDue


@dataclass(frozen=True, slots=True)
class CodexOutcome:
    """How the Codex run ended, as the event stream and exit code tell it."""

    outcome: Literal["succeeded", "failed"]
    reason: str | None
    last_message: str | None
    checkpoints: int
    usage: Mapping[str, Any] | None


def command_argv(command: str) -> list[str]:
    """Codex reports a command as one string (`/bin/bash -c '...'`); split it for the record."""
    try:
        return shlex.split(command)
    except ValueError:
        return [command]


@dataclass
class CodexEventMapper:
    """Fold of one attempt's `--json` stream."""

    attempt_no: int
    repo_dir: Path
    previous: Mapping[str, Any] | None = None
    """The progress of the checkpoint this attempt resumes from (carried forward)."""

    thread_id: str | None = None
    turn_completed: bool = False
    turn_failed: str | None = None
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    last_message: str | None = None
    usage: Mapping[str, Any] | None = None
    checkpoints: int = 0
    unparsed_lines: int = 0
    files_changed: list[str] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    _started: set[str] = field(default_factory=set)
    _previous_message: str | None = None

    def __post_init__(self) -> None:
        prev = self.previous or {}
        self.files_changed = [str(f) for f in prev.get("files_changed") or []][:MAX_FILES]
        self.commands = [dict(c) for c in prev.get("commands") or [] if isinstance(c, Mapping)]
        self._previous_message = str(prev.get("last_message") or "") or None

    # -- folding -------------------------------------------------------------------------

    def feed(self, line: str | bytes) -> list[Effect]:
        """Fold one stdout line; return the effects it calls for (non-JSON lines are counted)."""
        try:
            event = json.loads(line)
        except ValueError:
            self.unparsed_lines += 1
            return []
        if not isinstance(event, dict):
            self.unparsed_lines += 1
            return []
        kind = event.get("type")
        if kind == "thread.started":
            self.thread_id = str(event.get("thread_id") or "") or None
        elif kind == "turn.completed":
            self.turn_completed = True
            usage = event.get("usage")
            self.usage = usage if isinstance(usage, dict) else None
        elif kind == "turn.failed":
            err = event.get("error")
            message = err.get("message") if isinstance(err, dict) else None
            self.turn_failed = _clip(str(message or "turn failed"), 500)
        elif kind == "error":
            self.last_error = _clip(str(event.get("message") or "error"), 500)
        elif kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            if isinstance(item, dict):
                return self._item(kind, item)
        return []

    def _item(self, kind: str, item: dict[str, Any]) -> list[Effect]:
        item_id = str(item.get("id") or "")
        item_type = item.get("type")
        if item_type == "command_execution":
            command = str(item.get("command") or "")
            effects: list[Effect] = []
            if item_id not in self._started:
                # A command first seen as completed still gets its start record.
                self._started.add(item_id)
                effects.append(CommandBegan(item_id, command, command_argv(command)))
            if kind == "item.completed":
                exit_code = item.get("exit_code")
                exit_code = exit_code if isinstance(exit_code, int) else None
                output = str(item.get("aggregated_output") or "")
                status = str(item.get("status") or "completed")
                effects.append(
                    CommandEnded(item_id, command, exit_code, status, len(output.encode()))
                )
                self.commands.append(
                    {"command": _clip(command, 300), "exit_code": exit_code, "status": status}
                )
                self.commands = self.commands[-MAX_COMMANDS:]
                effects.append(
                    self._checkpoint(
                        {
                            "kind": "command",
                            "item_id": item_id,
                            "command": _clip(command, 1000),
                            "exit_code": exit_code,
                            "status": status,
                            "output_tail": output[-MAX_TEXT:],
                        }
                    )
                )
            return effects
        if kind != "item.completed":
            return []
        if item_type == "file_change":
            changes = []
            for change in item.get("changes") or []:
                if isinstance(change, dict):
                    path = self._relative(str(change.get("path") or ""))
                    changes.append({"path": path, "kind": str(change.get("kind") or "")})
                    if path not in self.files_changed and len(self.files_changed) < MAX_FILES:
                        self.files_changed.append(path)
            return [
                self._checkpoint(
                    {
                        "kind": "file_change",
                        "item_id": item_id,
                        "status": str(item.get("status") or "completed"),
                        "changes": changes,
                    }
                )
            ]
        if item_type == "agent_message":
            self.last_message = _clip(str(item.get("text") or ""), 20_000)
        elif item_type == "error":
            self.warnings.append(_clip(str(item.get("message") or ""), 500))
        return []

    def _relative(self, path: str) -> str:
        repo = str(self.repo_dir).rstrip("/") + "/"
        return path[len(repo) :] if path.startswith(repo) else path

    def progress(self) -> dict[str, Any]:
        """The cumulative progress a resumed attempt is told about."""
        message = self.last_message or self._previous_message
        return {
            "files_changed": list(self.files_changed),
            "commands": [dict(c) for c in self.commands],
            "last_message": _clip(message, MAX_TEXT) if message else None,
        }

    def _checkpoint(self, step: dict[str, Any]) -> CheckpointDue:
        self.checkpoints += 1
        return CheckpointDue(
            {
                "backend": "codex_cli",
                "attempt_no": self.attempt_no,
                "thread_id": self.thread_id,
                "step": self.checkpoints,
                **step,
                "progress": self.progress(),
            }
        )

    # -- the end -------------------------------------------------------------------------

    def finish(self, returncode: int, last_message_file: str | None = None) -> CodexOutcome:
        """The outcome: turn.failed or rc != 0 fail with the reason; rc 0 after turn.completed succeeds."""
        if last_message_file and last_message_file.strip():
            self.last_message = last_message_file
        reason: str | None = None
        if self.turn_failed is not None:
            reason = f"codex turn failed: {self.turn_failed}"
        elif returncode != 0:
            detail = f": {self.last_error}" if self.last_error else ""
            reason = f"codex exited with code {returncode}{detail}"
        elif not self.turn_completed:
            reason = "codex exited without completing its turn"
        return CodexOutcome(
            outcome="failed" if reason else "succeeded",
            reason=reason,
            last_message=self.last_message,
            checkpoints=self.checkpoints,
            usage=self.usage,
        )
