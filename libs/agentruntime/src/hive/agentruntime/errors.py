"""The runtime's error hierarchy (mapped to problem+json by each host app)::

AgentRuntimeError
├── AgentBusy       another run of this agent is executing (409 agent_busy)
├── RunNotFound     no such run of this agent (404 not_found)
├── RunNotResumable the run is finished (409 invalid_state_transition)
└── MemoryLimit     notes past the documented bound (422 memory_limit)
"""

from __future__ import annotations


class AgentRuntimeError(Exception):
    """Base of the runtime's refusals; `status` and `code` are the HTTP mapping."""

    status = 500
    code = "internal_error"


class AgentBusy(AgentRuntimeError):
    """Another run of this agent is executing."""

    status = 409
    code = "agent_busy"


class RunNotFound(AgentRuntimeError):
    """No such run of this agent."""

    status = 404
    code = "not_found"


class RunNotResumable(AgentRuntimeError):
    """The run has finished; nothing to resume."""

    status = 409
    code = "invalid_state_transition"


class MemoryLimit(AgentRuntimeError):
    """Flushing would write more than the agent's memory bound."""

    status = 422
    code = "memory_limit"


class HostUnavailable(AgentRuntimeError):
    """The gateway (the run's stream, the relay, the tools) could not be reached."""

    status = 503
    code = "unavailable"
