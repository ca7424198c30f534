"""Run budgets (model calls, tokens, wall time): one rule, applied by the gateway's relay.

The relay refuses an agent's model call past its run's budget with 403
`budget_exhausted`; the runtime turns that refusal into `awaiting_input`
(reason `budget`), and the operator's grant raises the limits in the run's
stream. The counts come from the stream, and the relay adds what it relayed
itself (a call answered but never recorded, by a runtime that died or
misbehaves, still counts).
"""

from __future__ import annotations

from datetime import datetime

from hive.agentruntime.run_state import RunState

RUN_HEADER = "X-Hive-Agent-Run"
"""The header an agent's relay call names its run with (the relay requires it)."""


def budget_problem(
    state: RunState, now: datetime, *, model_calls: int = 0, tokens: int = 0
) -> str | None:
    """Why the run may make no further model call, or None.

    `model_calls` and `tokens` are what the caller counted beyond the stream (the relay's
    own tally); the larger of the two counts is the one that binds.
    """
    limits = state.limits
    calls = max(state.model_calls, model_calls)
    spent = max(state.tokens, tokens)
    if calls >= limits.get("model_calls", float("inf")):
        return f"model call budget spent ({calls} of {limits['model_calls']:g})"
    if spent >= limits.get("tokens", float("inf")):
        return f"token budget spent ({spent} of {limits['tokens']:g})"
    if state.segment_started_at is not None:
        elapsed = (now - state.segment_started_at).total_seconds()
        if elapsed >= limits.get("wall_s", float("inf")):
            return f"wall-time budget spent ({elapsed:.0f}s of {limits['wall_s']:g}s)"
    return None
