"""Governed commands: the `commands` read model and live sandbox instances.

`commands` is written in the same transaction as the CommandStarted /
CommandFinished events it mirrors (an inline projection), so listing and
filtering never lag the streams. `sandbox_instances` is a lease row per
running sandbox process: a command whose instance stopped heartbeating (or
whose process is gone) is marked `lost` instead of staying `running` forever.

Revision ID: 0003_commands
Revises: 0002_work_run_runtime
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003_commands"
down_revision = "0002_work_run_runtime"
branch_labels = None
depends_on = None


_UPGRADE = [
    """
CREATE TABLE sandbox_instances (
            instance_id   text PRIMARY KEY,
            hostname      text NOT NULL,
            pid           integer NOT NULL,
            root          text NOT NULL,
            started_at    timestamptz NOT NULL DEFAULT now(),
            heartbeat_at  timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
CREATE TABLE commands (
            command_id       text PRIMARY KEY,
            task_id          text,
            attempt_no       integer,
            stream_id        text NOT NULL,
            argv             jsonb NOT NULL,
            cwd              text NOT NULL,
            state            text NOT NULL,
            exit_code        integer,
            reason           text,
            pid              integer,
            pid_start_ticks  bigint,
            instance_id      text NOT NULL,
            timeout_s        double precision,
            started_at       timestamptz NOT NULL,
            finished_at      timestamptz,
            duration_s       double precision,
            stdout_bytes     bigint NOT NULL DEFAULT 0,
            stderr_bytes     bigint NOT NULL DEFAULT 0,
            stdout_omitted   bigint NOT NULL DEFAULT 0,
            stderr_omitted   bigint NOT NULL DEFAULT 0
        )
    """,
    """
CREATE INDEX commands_task ON commands (task_id, started_at DESC)
    """,
    """
CREATE INDEX commands_started ON commands (started_at DESC)
    """,
    """
CREATE INDEX commands_running ON commands (instance_id) WHERE state = 'running'
    """,
]

_DOWNGRADE = [
    "DROP TABLE commands",
    "DROP TABLE sandbox_instances",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
