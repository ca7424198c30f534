"""Run budgets enforced at the relay: an agent's model call past its run's budget is refused.

Every relay call made with an agent runtime's token (scope `agent:runtime`) names its run (`X-Hive-Agent-Run`);
the guard folds the run's stream (limits, grants, recorded calls and tokens,
the current segment's start) and adds what this gateway relayed for the run
itself, so a call answered but never recorded (a runtime that died in between,
or one that does not record at all) still counts. Past the budget the call is
refused with 403 `budget_exhausted` before it reaches the provider; the runtime
turns that into `awaiting_input` (reason `budget`) and the operator's grant,
appended to the same stream, raises the limits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from hive.agentruntime import fold
from hive.agentruntime.budget import RUN_HEADER, budget_problem
from hive.agentruntime.errors import BudgetExhausted
from hive.contracts.events import Event
from hive.contracts.tokens import SCOPE_AGENT, TaskTokenClaims
from hive.gateway.errors import Conflict, Invalid, NotFound

MAX_TALLIES = 10_000
ReadRun = Callable[[str], Awaitable[list[Event]]]


@dataclass(slots=True)
class _Relayed:
    calls: int = 0
    tokens: int = 0


class RunBudgetGuard:
    """Admits or refuses an agent's relay call by its run's budget."""

    def __init__(self, read_run: ReadRun) -> None:
        self._read_run = read_run
        # Per run, what this process relayed (lost with the process: the stream then counts).
        self._relayed: dict[str, _Relayed] = {}

    async def admit(self, claims: TaskTokenClaims, headers: Mapping[str, str]) -> str | None:
        """The run to account this call to (None: not an agent's call), or a refusal."""
        if claims.agent_id is None or SCOPE_AGENT not in claims.scopes:
            return None  # not an agent runtime's token (a Work Run's, an operator's)
        run_id = headers.get(RUN_HEADER.lower()) or headers.get(RUN_HEADER)
        if not run_id:
            raise Invalid(f"an agent's relay call names its run in {RUN_HEADER}")
        state = fold(await self._read_run(run_id))
        if not state.started or state.agent_id != claims.agent_id:
            raise NotFound(f"no run {run_id} of agent {claims.agent_id}")
        if state.status != "running":
            raise Conflict(f"run {run_id} is {state.status}: no model call now")
        relayed = self._tally(run_id)
        problem = budget_problem(
            state, datetime.now(UTC), model_calls=relayed.calls, tokens=relayed.tokens
        )
        if problem is not None:
            raise BudgetExhausted(problem)
        relayed.calls += 1
        return run_id

    def spent(self, run_id: str, tokens: int) -> None:
        """The tokens an admitted call used (as the provider reported them)."""
        self._tally(run_id).tokens += tokens

    def _tally(self, run_id: str) -> _Relayed:
        tally = self._relayed.get(run_id)
        if tally is None:
            if len(self._relayed) >= MAX_TALLIES:  # the oldest run's tally goes first
                del self._relayed[next(iter(self._relayed))]
            tally = self._relayed[run_id] = _Relayed()
        return tally
