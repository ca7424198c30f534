"""Agents: the registry, the run index, schedules, their firings and leader leases.

`agents` is the gateway's registry of managed agents (a deleted agent keeps
its row with `deleted_at`, so its runs stay attributable). `agent_runs` is a
read model of the `agentrun-<run_id>` streams (owner, status), updated in the
append's transaction, so the pool can find runs left `running` after a crash.
`agent_schedules` holds recurring runs; `schedule_firings` makes each firing
unique by (schedule, fire time) and records missed ones. `leader_leases` is a
lease row with an epoch: the holder renews it before `expires_at`; a new holder
bumps the epoch, and every firing is written only while the writer's epoch is
still the row's (fencing a deposed leader), with no session-level lock, so it
works behind a transaction-mode connection pooler.

Revision ID: 0007_agents
Revises: 0006_work_runs_approved
Create Date: 2026-12-07
"""

from alembic import op

revision = "0007_agents"
down_revision = "0006_work_runs_approved"
branch_labels = None
depends_on = None


_UPGRADE = [
    """
CREATE TABLE agents (
            agent_id       text PRIMARY KEY,
            project_id     text NOT NULL REFERENCES projects (project_id),
            role           text NOT NULL,
            config         jsonb NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz
        )
    """,
    "CREATE INDEX agents_live ON agents (created_at) WHERE deleted_at IS NULL",
    """
CREATE TABLE agent_runs (
            run_id         text PRIMARY KEY,
            agent_id       text NOT NULL REFERENCES agents (agent_id),
            status         text NOT NULL,
            schedule_id    text,
            stream_version bigint NOT NULL DEFAULT 0,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now()
        )
    """,
    "CREATE INDEX agent_runs_by_agent ON agent_runs (agent_id, created_at DESC)",
    "CREATE INDEX agent_runs_active ON agent_runs (agent_id) WHERE status = 'running'",
    """
CREATE TABLE agent_schedules (
            schedule_id    text PRIMARY KEY,
            agent_id       text NOT NULL REFERENCES agents (agent_id),
            cron           text NOT NULL,
            timezone       text NOT NULL,
            input          text NOT NULL,
            overlap        text NOT NULL CHECK (overlap IN ('skip', 'enqueue')),
            catch_up_s     double precision NOT NULL,
            paused         boolean NOT NULL DEFAULT false,
            next_fire_at   timestamptz NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            deleted_at     timestamptz
        )
    """,
    "CREATE INDEX agent_schedules_due ON agent_schedules (next_fire_at) "
    "WHERE NOT paused AND deleted_at IS NULL",
    """
CREATE TABLE schedule_firings (
            schedule_id    text NOT NULL REFERENCES agent_schedules (schedule_id),
            fire_time      timestamptz NOT NULL,
            outcome        text NOT NULL,
            run_id         text,
            leader_epoch   bigint NOT NULL,
            recorded_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (schedule_id, fire_time)
        )
    """,
    """
CREATE TABLE leader_leases (
            name           text PRIMARY KEY,
            holder         text NOT NULL,
            epoch          bigint NOT NULL,
            expires_at     timestamptz NOT NULL
        )
    """,
]

_DOWNGRADE = [
    "DROP TABLE leader_leases",
    "DROP TABLE schedule_firings",
    "DROP TABLE agent_schedules",
    "DROP TABLE agent_runs",
    "DROP TABLE agents",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
