"""HiveAgent: drives runs forward one recorded step at a time.

A step is recorded before the next one starts: a model answer is appended
(with the tool calls it asked for, in one batch) before any tool runs, and a
tool's result is appended before the next model call. After a crash the run is
folded from its stream and continues after the last recorded step; the one
thing that can happen twice is the step in flight when the process died, and
for tools that is made harmless by the idempotency key derived from
(run, step, call index), which the gateway turns into one Work Run id.

The stream's expected version fences writers: a runtime that lost its place
(an older process still running after a restart) gets StaleAppend and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hive.agentruntime.errors import AgentBusy, RunNotFound, RunNotResumable
from hive.agentruntime.host import AgentHost, StaleAppend
from hive.agentruntime.run_state import PendingCall, RunState, fold
from hive.agentruntime.tools import (
    ToolArgumentsError,
    call_side_effecting,
    definitions,
    parse_arguments,
)
from hive.contracts.agents import AgentConfig, RunResult
from hive.contracts.errors import ErrorCode
from hive.contracts.events import (
    AgentApprovalRequested,
    AgentMemoryNoted,
    AgentModelCalled,
    AgentRunFinished,
    AgentRunResumed,
    AgentRunStarted,
    AgentToolFinished,
    AgentToolRequested,
    Event,
)

log = logging.getLogger("hive.agent")


def _now() -> datetime:
    return datetime.now(UTC)


class HiveAgent:
    """One agent: its config, its host, and at most one executing run."""

    def __init__(self, config: AgentConfig, host: AgentHost) -> None:
        self.config = config
        self.host = host
        self._active: tuple[str, asyncio.Task[RunState]] | None = None
        self.known_runs: list[str] = []

    # -- entry points ----------------------------------------------------------------

    async def run(
        self,
        text: str,
        run_id: str | None = None,
        wait_s: float = 60.0,
        schedule_id: str | None = None,
    ) -> RunResult:
        """Start a run (or answer an existing one with this id)."""
        run_id = run_id or uuid.uuid4().hex
        if self._active is not None and self._active[0] == run_id:
            return await self._wait(run_id, wait_s)
        existing = fold(await self.host.read_run(run_id))
        if existing.started:
            if existing.agent_id != self.config.agent_id:
                raise RunNotFound(f"run {run_id} belongs to another agent")
            return existing.result()
        self._refuse_if_busy()
        budget = self.config.budget
        started = AgentRunStarted(
            run_id=run_id,
            agent_id=self.config.agent_id,
            project_id=self.config.project_id,
            input=text,
            model=self.config.model,
            system_prompt=self.config.system_prompt,
            budget={
                "model_calls": budget.model_calls,
                "tokens": budget.tokens,
                "wall_s": budget.wall_s,
            },
            schedule_id=schedule_id,
            started_at=_now(),
        )
        try:
            await self.host.append(run_id, [started], 0)
        except StaleAppend:  # a concurrent create with the same id won
            return fold(await self.host.read_run(run_id)).result()
        self._start(run_id)
        return await self._wait(run_id, wait_s)

    async def resume(self, run_id: str, text: str | None = None, wait_s: float = 60.0) -> RunResult:
        """Continue a run from its stream (after a decision, a grant, or a lost runtime)."""
        if self._active is not None and self._active[0] == run_id:
            return await self._wait(run_id, wait_s)
        state = fold(await self.host.read_run(run_id))
        if not state.started or state.agent_id != self.config.agent_id:
            raise RunNotFound(f"no run {run_id} of this agent")
        if state.status in ("completed", "failed", "cancelled"):
            if state.status == "cancelled" or text is None:
                return state.result()
            raise RunNotResumable(f"run {run_id} is {state.status}")
        if state.open_request is not None:
            return state.result()  # still waiting for the operator's decision
        self._refuse_if_busy()
        await self.host.append(
            run_id, [AgentRunResumed(input=text, recorded_at=_now())], state.version
        )
        self._start(run_id)
        return await self._wait(run_id, wait_s)

    async def status(self, run_id: str) -> RunResult:
        """A run's state from its stream."""
        state = fold(await self.host.read_run(run_id))
        if not state.started:
            raise RunNotFound(f"no run {run_id}")
        return state.result()

    @property
    def active_run(self) -> str | None:
        """The executing run, if any."""
        return self._active[0] if self._active is not None else None

    async def close(self) -> None:
        """Stop the executing run's task (its stream keeps its place for a resume)."""
        if self._active is not None:
            task = self._active[1]
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- driving -----------------------------------------------------------------------

    def _refuse_if_busy(self) -> None:
        if self._active is not None and not self._active[1].done():
            raise AgentBusy(f"run {self._active[0]} of this agent is executing")

    def _start(self, run_id: str) -> None:
        if run_id not in self.known_runs:
            self.known_runs.append(run_id)
        task = asyncio.create_task(self._drive(run_id), name=f"agentrun-{run_id}")
        self._active = (run_id, task)
        task.add_done_callback(lambda t: self._clear(run_id, t))

    def _clear(self, run_id: str, task: asyncio.Task[RunState]) -> None:
        if self._active is not None and self._active[1] is task:
            self._active = None
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s stopped: %r", run_id, task.exception())

    async def _wait(self, run_id: str, wait_s: float) -> RunResult:
        active = self._active
        if active is not None and active[0] == run_id and wait_s > 0:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(active[1]), wait_s)
        return await self.status(run_id)

    async def _drive(self, run_id: str) -> RunState:
        state = fold(await self.host.read_run(run_id))
        while state.status == "running":
            try:
                if state.pending:
                    await self._tool_step(state, state.pending[0])
                else:
                    await self._model_step(state)
            except StaleAppend:
                log.warning("run %s: another runtime wrote to the stream; stopping here", run_id)
                break
            except Exception as exc:  # a failed step ends the run, visibly, with its reason
                log.exception("run %s failed", run_id)
                await self._record(
                    state, [_finished("failed", error=f"{type(exc).__name__}: {exc}")]
                )
        return state

    async def _record(self, state: RunState, events: Sequence[Event]) -> None:
        state_version = await self.host.append(state.run_id, events, state.version)
        for event in events:
            state.apply(event)
        assert state.version == state_version, "stream and fold disagree"

    async def _model_step(self, state: RunState) -> None:
        body: dict[str, Any] = {"model": self.config.model, "messages": state.messages}
        tools = definitions(self.config.tools)
        if tools:
            body["tools"] = tools
        try:
            answer = await self.host.chat(body, state.run_id)
        except Exception as exc:
            # The relay enforces the run's budget; its refusal stops the run for a grant.
            if getattr(exc, "code", None) != ErrorCode.BUDGET_EXHAUSTED:
                raise
            why = getattr(exc, "detail", None) or str(exc) or "budget spent"
            await self._record(
                state,
                [
                    AgentApprovalRequested(
                        request_id=uuid.uuid4().hex,
                        reason="budget",
                        why=str(why),
                        recorded_at=_now(),
                    )
                ],
            )
            return
        message = dict(answer["choices"][0]["message"])
        usage = answer.get("usage") or {}
        step = state.model_calls + 1
        events: list[Event] = [
            AgentModelCalled(
                step=step,
                message=message,
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                recorded_at=_now(),
            )
        ]
        calls = message.get("tool_calls") or []
        for index, call in enumerate(calls):
            fn = call.get("function") or {}
            events.append(
                AgentToolRequested(
                    step=step,
                    call_id=str(call.get("id") or f"{step}-{index}"),
                    tool=str(fn.get("name") or ""),
                    arguments=parse_arguments(fn.get("arguments")),
                    idempotency_key=f"{state.run_id}:{step}:{index}",
                    recorded_at=_now(),
                )
            )
        if not calls:
            events.append(_finished("completed", output=message.get("content") or ""))
        await self._record(state, events)

    async def _tool_step(self, state: RunState, call: PendingCall) -> None:
        policy = self.config.policies.get(call.tool, "auto")
        decision = state.decisions.get(call.call_id)
        if policy == "operator_approval" and decision is None:
            await self._record(
                state,
                [
                    AgentApprovalRequested(
                        request_id=uuid.uuid4().hex,
                        reason="approval",
                        call_id=call.call_id,
                        tool=call.tool,
                        arguments=call.arguments,
                        why=f"policy: {call.tool} needs an operator's approval",
                        recorded_at=_now(),
                    )
                ],
            )
            return
        if decision is False:
            await self._record(
                state, [_tool_result(call, False, {"error": "declined by the operator"})]
            )
            return
        if call.tool not in self.config.tools:
            await self._record(
                state, [_tool_result(call, False, {"error": f"tool {call.tool!r} is not enabled"})]
            )
            return
        if call.tool == "remember":
            await self._record(state, self._remember(state, call))
            return
        started = time.monotonic()
        try:
            result = await call_side_effecting(
                self.host, call.tool, call.arguments, call.idempotency_key
            )
            ok = True
        except ToolArgumentsError as exc:
            result, ok = {"error": str(exc)}, False
        log.info("run %s: %s took %.3fs", state.run_id, call.tool, time.monotonic() - started)
        await self._record(state, [_tool_result(call, ok, result)])

    def _remember(self, state: RunState, call: PendingCall) -> list[Event]:
        note = call.arguments.get("note")
        if not isinstance(note, str) or not note.strip():
            return [_tool_result(call, False, {"error": "note must be a non-empty string"})]
        if len(state.notes) >= self.config.memory_max_notes:
            return [
                _tool_result(
                    call,
                    False,
                    {"error": f"memory full ({self.config.memory_max_notes} notes per run)"},
                )
            ]
        return [
            AgentMemoryNoted(call_id=call.call_id, note=note.strip(), recorded_at=_now()),
            _tool_result(call, True, {"remembered": True}),
        ]


def _tool_result(call: PendingCall, ok: bool, result: dict[str, Any]) -> AgentToolFinished:
    return AgentToolFinished(call_id=call.call_id, ok=ok, result=result, recorded_at=_now())


def _finished(
    status: str, *, output: str | None = None, error: str | None = None
) -> AgentRunFinished:
    return AgentRunFinished(status=status, output=output, error=error, recorded_at=_now())  # type: ignore[arg-type]
