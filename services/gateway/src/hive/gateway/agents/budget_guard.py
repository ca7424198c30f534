"""Run budgets enforced at the relay: an agent's model call past its run's budget is refused.

Every relay call made with an agent runtime's token (scope `agent:runtime`) names
its run (`X-Hive-Agent-Run`); the guard folds the run's stream (limits, grants, recorded calls and tokens,
the current segment's start) and adds what this gateway relayed for the run
itself, so a call answered but never recorded (a runtime that died in between,
or one that does not record at all) still counts. Past the budget the call is
refused with 403 `budget_exhausted` before it reaches the provider; the runtime
turns that into `awaiting_input` (reason `budget`) and the operator's grant,
appended to the same stream, raises the limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hive.agentruntime import RunState
from hive.agentruntime.budget import RUN_HEADER, budget_problem
from hive.agentruntime.errors import BudgetExhausted
from hive.contracts.events import Event
from hive.contracts.tokens import SCOPE_AGENT, TaskTokenClaims
from hive.gateway.errors import Conflict, Invalid, NotFound

MAX_TALLIES = 1_000
ReadRun = Callable[[str, int], Awaitable[list[Event]]]
"""(run_id, after_version) -> the run's events after that version."""


@dataclass(slots=True)
class _Tally:
    state: RunState = field(default_factory=RunState)
    """The run folded so far (each call reads only what was appended since)."""
    calls: int = 0
    tokens: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RunBudgetGuard:
    """Admits or refuses an agent's relay call by its run's budget."""

    def __init__(self, read_run: ReadRun) -> None:
        self._read_run = read_run
        # Per run, its fold and what this process relayed (lost with the process: the
        # stream then counts alone). Bounded: the least recently admitted run goes first.
        self._tallies: dict[str, _Tally] = {}

    async def admit(self, claims: TaskTokenClaims, headers: Mapping[str, str]) -> str | None:
        """The run to account this call to (None: not an agent's call), or a refusal."""
        if claims.agent_id is None or SCOPE_AGENT not in claims.scopes:
            return None  # not an agent runtime's token (a Work Run's, an operator's)
        run_id = headers.get(RUN_HEADER.lower()) or headers.get(RUN_HEADER)
        if not run_id:
            raise Invalid(f"an agent's relay call names its run in {RUN_HEADER}")
        tally = self._tallies.setdefault(run_id, _Tally())
        async with tally.lock:
            state = tally.state
            for event in await self._read_run(run_id, state.version):
                state.apply(event)
            if not state.started or state.agent_id != claims.agent_id:
                self._tallies.pop(run_id, None)  # an unknown id never takes a tally's place
                raise NotFound(f"no run {run_id} of agent {claims.agent_id}")
            if state.status != "running":
                if state.status != "awaiting_input":
                    self._tallies.pop(run_id, None)  # finished: nothing more to count
                raise Conflict(f"run {run_id} is {state.status}: no model call now")
            problem = budget_problem(
                state, datetime.now(UTC), model_calls=tally.calls, tokens=tally.tokens
            )
            if problem is not None:
                raise BudgetExhausted(problem)
            tally.calls += 1
        self._keep(run_id, tally)
        return run_id

    def spent(self, run_id: str, tokens: int) -> None:
        """The tokens an admitted call used (as the provider reported them)."""
        tally = self._tallies.get(run_id)
        if tally is not None:
            tally.tokens += tokens

    def _keep(self, run_id: str, tally: _Tally) -> None:
        """Most recently admitted last; past the bound the least recent run's tally goes."""
        self._tallies.pop(run_id, None)
        self._tallies[run_id] = tally
        while len(self._tallies) > MAX_TALLIES:
            del self._tallies[next(iter(self._tallies))]
