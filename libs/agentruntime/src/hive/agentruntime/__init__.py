"""The HiveAgent runtime core, shared by the agent process and the gateway's local pool.

A run is an append-only stream (`agentrun-<run_id>`); `run_state.fold` turns it
into the run's state and transcript; `HiveAgent` drives a run forward one
recorded step at a time through an `AgentHost` (the seam: over HTTP to the
gateway from an agent process, direct calls inside the gateway).
"""

from hive.agentruntime.errors import AgentBusy, AgentRuntimeError, MemoryLimit, RunNotFound
from hive.agentruntime.hive_agent import HiveAgent
from hive.agentruntime.host import AgentHost, StaleAppend
from hive.agentruntime.run_state import RunState, fold, run_stream

__all__ = [
    "AgentBusy",
    "AgentHost",
    "AgentRuntimeError",
    "HiveAgent",
    "MemoryLimit",
    "RunNotFound",
    "RunState",
    "StaleAppend",
    "fold",
    "run_stream",
]
