"""Fold an agent run's stream into its state and its model transcript.

The transcript is rebuilt from recorded answers only: a resumed run hands the
model exactly what it saw before, so a recorded model call is never made
again and a finished tool call never runs again. Operator input given while
tool calls are still open waits until they finish (the OpenAI wire format
requires every tool call to be answered before the next user message).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hive.contracts.agents import ApprovalRequestView, RunResult
from hive.contracts.events import (
    AgentApprovalDecided,
    AgentApprovalRequested,
    AgentMemoryNoted,
    AgentModelCalled,
    AgentRunFinished,
    AgentRunResumed,
    AgentRunStarted,
    AgentRunStatus,
    AgentToolFinished,
    AgentToolRequested,
    Event,
)


def run_stream(run_id: str) -> str:
    """The event-store stream of a run."""
    return f"agentrun-{run_id}"


@dataclass
class PendingCall:
    """A tool call the model asked for that has no result yet."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    idempotency_key: str


@dataclass
class Note:
    """A `remember` note."""

    call_id: str
    note: str
    recorded_at: datetime


@dataclass
class RunState:
    """Everything a run's stream says."""

    run_id: str = ""
    agent_id: str = ""
    status: AgentRunStatus = "running"
    version: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    deferred_inputs: list[str] = field(default_factory=list)
    pending: list[PendingCall] = field(default_factory=list)
    decisions: dict[str, bool] = field(default_factory=dict)
    open_request: AgentApprovalRequested | None = None
    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    limits: dict[str, float] = field(default_factory=dict)
    segment_started_at: datetime | None = None
    notes: list[Note] = field(default_factory=list)
    output: str | None = None
    error: str | None = None

    @property
    def started(self) -> bool:
        """Has the stream a RunStarted."""
        return bool(self.run_id)

    def apply(self, event: Event) -> None:
        """Fold one event."""
        self.version += 1
        match event:
            case AgentRunStarted():
                self.run_id, self.agent_id = event.run_id, event.agent_id
                if event.system_prompt:
                    self.messages.append({"role": "system", "content": event.system_prompt})
                self.messages.append({"role": "user", "content": event.input})
                self.limits = dict(event.budget)
                self.segment_started_at = event.started_at
            case AgentModelCalled():
                self.model_calls += 1
                self.tokens += event.input_tokens + event.output_tokens
                self.messages.append(event.message)
            case AgentToolRequested():
                self.pending.append(
                    PendingCall(event.call_id, event.tool, event.arguments, event.idempotency_key)
                )
            case AgentToolFinished():
                self.tool_calls += 1
                self.pending = [p for p in self.pending if p.call_id != event.call_id]
                self.messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": event.call_id,
                        "content": json.dumps(event.result, sort_keys=True),
                    }
                )
                if not self.pending:
                    self._flush_inputs()
            case AgentApprovalRequested():
                self.status, self.open_request = "awaiting_input", event
            case AgentApprovalDecided():
                request = self.open_request
                if request is not None and request.request_id == event.request_id:
                    if request.call_id is not None:
                        self.decisions[request.call_id] = event.approved
                    for name, extra in event.grant.items():
                        self.limits[name] = self.limits.get(name, 0) + extra
                    self.open_request = None
                    # A declined budget request is followed by AgentRunFinished(cancelled).
                    self.status = "running"
            case AgentRunResumed():
                self.segment_started_at = event.recorded_at
                if self.status == "awaiting_input" and self.open_request is None:
                    self.status = "running"
                if event.input:
                    self.deferred_inputs.append(event.input)
                    if not self.pending:
                        self._flush_inputs()
            case AgentMemoryNoted():
                self.notes.append(Note(event.call_id, event.note, event.recorded_at))
            case AgentRunFinished():
                self.status, self.output, self.error = event.status, event.output, event.error

    def _flush_inputs(self) -> None:
        for text in self.deferred_inputs:
            self.messages.append({"role": "user", "content": text})
        self.deferred_inputs.clear()

    def result(self) -> RunResult:
        """The `/run` answer for this state."""
        pending = None
        if self.open_request is not None:
            r = self.open_request
            pending = ApprovalRequestView(
                request_id=r.request_id,
                reason=r.reason,
                tool=r.tool,
                arguments=r.arguments,
                why=r.why,
            )
        return RunResult(
            run_id=self.run_id,
            agent_id=self.agent_id or None,
            status=self.status,
            output=self.output,
            error=self.error,
            pending=pending,
            model_calls=self.model_calls,
            tool_calls=self.tool_calls,
            stream_version=self.version,
        )


def fold(events: Iterable[Event]) -> RunState:
    """The state of a run from its events."""
    state = RunState()
    for event in events:
        state.apply(event)
    return state
