"""Agent bodies: the runtime's `/run` family, `/api/agents`, the internal agent API.

Shared by the agent runtime, the gateway and the runtime core both use
(`hive.agentruntime`), so one definition of each body exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from hive.contracts.events import AgentRunStatus

ToolPolicy = Literal["auto", "operator_approval"]
TOOL_NAMES = ("create_dev_task", "get_dev_task", "list_dev_tasks", "remember")


class RunBudget(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Per-run limits; an exhausted one stops the run in awaiting_input (reason budget)."""

    model_calls: int = 20
    tokens: int = 200_000
    wall_s: float = 900.0


class AgentConfig(msgspec.Struct, kw_only=True, frozen=True):
    """HIVE_AGENT_CONFIG_JSON: what one HiveAgent runtime is."""

    agent_id: str
    project_id: str
    role: str = "keeper"
    model: str
    system_prompt: str | None = None
    tools: list[str] = msgspec.field(default_factory=lambda: list(TOOL_NAMES))
    policies: dict[str, ToolPolicy] = {}
    """Per tool; a tool not named here is `auto`."""
    budget: RunBudget = RunBudget()
    memory_max_notes: int = 200
    """Notes per run (`remember` past this answers the model an error; /flush-memory 422s)."""
    memory_max_bytes: int = 64 * 1024
    """Bytes of notes one flush may write."""


class RunRequest(msgspec.Struct, kw_only=True):
    """POST /run: `run_id` makes create idempotent; `wait_s` bounds how long the call waits."""

    input: str
    run_id: str | None = None
    wait_s: float = 60.0
    schedule_id: str | None = None


class ResumeRunRequest(msgspec.Struct, kw_only=True):
    """POST /resume-run."""

    run_id: str
    input: str | None = None
    wait_s: float = 60.0


class ApprovalRequestView(msgspec.Struct, kw_only=True):
    """The open question a run in awaiting_input is stopped on."""

    request_id: str
    reason: Literal["approval", "budget"]
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    why: str


class RunResult(msgspec.Struct, kw_only=True):
    """`/run` and `/resume-run` answer; GET of a run through the gateway too."""

    run_id: str
    status: AgentRunStatus
    output: str | None = None
    agent_id: str | None = None
    error: str | None = None
    pending: ApprovalRequestView | None = None
    model_calls: int = 0
    tool_calls: int = 0
    stream_version: int = 0


class FlushMemoryRequest(msgspec.Struct, kw_only=True):
    """POST /flush-memory: the runs whose notes to write (all known runs when empty)."""

    run_ids: list[str] = []


class FlushMemoryResult(msgspec.Struct, kw_only=True):
    """What /flush-memory wrote under `memory/` in the agent's workspace."""

    files: list[str]
    bytes: int
    notes: int


class DecisionRequest(msgspec.Struct, kw_only=True):
    """Approve/decline an approval request, or grant more budget."""

    request_id: str | None = None
    comment: str | None = None
    grant: RunBudget | None = None


# --- gateway: /api/agents -----------------------------------------------------------


class AgentCreate(msgspec.Struct, kw_only=True):
    """POST /api/agents."""

    project_id: str
    role: str
    model: str
    agent_id: str | None = None
    system_prompt: str | None = None
    tools: list[str] | None = None
    policies: dict[str, ToolPolicy] = {}
    budget: RunBudget | None = None
    memory_max_notes: int | None = None
    """Notes per run (default 200)."""
    memory_max_bytes: int | None = None
    """Bytes one /flush-memory may write (default 64 KiB; past it: 422 memory_limit)."""


class AgentView(msgspec.Struct, kw_only=True):
    """An agent as the gateway shows it, with its runtime's health fields."""

    agent_id: str
    project_id: str
    role: str
    model: str
    tools: list[str]
    policies: dict[str, ToolPolicy]
    created_at: datetime
    pool: str
    status: Literal["starting", "ready", "silent", "stopped"]
    silent: bool
    health: dict[str, Any] | None = None
    last_healthy_at: datetime | None = None


# --- gateway: the internal agent API (agent-token authenticated) -------------------


class AppendEvents(msgspec.Struct, kw_only=True):
    """POST /internal/agent-runs/{run_id}/events: typed events at an expected version."""

    expected_version: int
    events: list[dict[str, Any]]
    event_ids: list[str] = []


class Appended(msgspec.Struct, kw_only=True):
    """Where an append landed."""

    stream_version: int


class RecordedAgentEvent(msgspec.Struct, kw_only=True):
    """GET /internal/agent-runs/{run_id}/events item."""

    stream_version: int
    event: dict[str, Any]


class AgentDevTaskCreate(msgspec.Struct, kw_only=True):
    """POST /internal/agents/{agent_id}/dev-tasks: create_dev_task with its idempotency key."""

    instructions: str
    idempotency_key: str
    backend: str | None = None
    target_paths: list[str] = []


# --- gateway: /api/agents/{agent_id}/schedules --------------------------------------

Overlap = Literal["skip", "enqueue"]


class ScheduleCreate(msgspec.Struct, kw_only=True):
    """POST /api/agents/{agent_id}/schedules: a recurring run of the agent."""

    cron: str
    """Five fields (minute hour day month weekday), or six with seconds last."""
    input: str
    timezone: str = "UTC"
    """An IANA zone name; the cron expression is read in it (DST included)."""
    overlap: Overlap = "skip"
    """A firing while a run of the agent is active: skip it, or enqueue it for later."""
    catch_up_s: float = 300.0
    """A firing missed by at most this much (downtime) still runs, once; older ones are
    recorded as missed, never replayed."""
    paused: bool = False


class ScheduleUpdate(msgspec.Struct, kw_only=True, omit_defaults=True):
    """PATCH .../schedules/{schedule_id}: the fields to change."""

    cron: str | None = None
    input: str | None = None
    timezone: str | None = None
    overlap: Overlap | None = None
    catch_up_s: float | None = None
    paused: bool | None = None


class ScheduleView(msgspec.Struct, kw_only=True):
    """A schedule as stored."""

    schedule_id: str
    agent_id: str
    cron: str
    input: str
    timezone: str
    overlap: Overlap
    catch_up_s: float
    paused: bool
    next_fire_at: datetime
    created_at: datetime


class FiringView(msgspec.Struct, kw_only=True):
    """One firing: `fired`, `queued`, `skipped` (overlap) or `missed` (downtime)."""

    fire_time: datetime
    outcome: str
    run_id: str | None = None
    leader_epoch: int
    recorded_at: datetime
