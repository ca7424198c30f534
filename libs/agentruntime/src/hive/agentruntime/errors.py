"""The runtime's error hierarchy: HiveErrors, so every host maps them to problem+json by
their code (`hive.contracts.problems.STATUS`), once::

    AgentRuntimeError
    ├── AgentBusy       another run of this agent is executing (409 agent_busy)
    ├── RunNotFound     no such run of this agent (404 not_found)
    ├── RunNotResumable the run is finished (409 invalid_state_transition)
    ├── MemoryLimit     notes past the documented bound (422 memory_limit)
    ├── BudgetExhausted the run's budget is spent: the relay refuses (403 budget_exhausted)
    └── HostUnavailable the gateway did not answer (503 unavailable)
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError


class AgentRuntimeError(HiveError):
    """Base of the runtime's refusals."""


class AgentBusy(AgentRuntimeError):
    """Another run of this agent is executing."""

    code = ErrorCode.AGENT_BUSY


class RunNotFound(AgentRuntimeError):
    """No such run of this agent."""

    code = ErrorCode.NOT_FOUND


class RunNotResumable(AgentRuntimeError):
    """The run has finished; nothing to resume."""

    code = ErrorCode.INVALID_STATE_TRANSITION


class MemoryLimit(AgentRuntimeError):
    """Flushing would write more than the agent's memory bound."""

    code = ErrorCode.MEMORY_LIMIT


class BudgetExhausted(AgentRuntimeError):
    """The run's budget is spent (the relay's refusal; the run waits for a grant)."""

    code = ErrorCode.BUDGET_EXHAUSTED


class HostUnavailable(AgentRuntimeError):
    """The gateway (the run's stream, the relay, the tools) could not be reached."""

    code = ErrorCode.UNAVAILABLE
