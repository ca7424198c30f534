"""Work Run runtime rows: attempt leases, artifact bytes, proposed patches, seeds.

Leases and heartbeats are rows, not events (a heartbeat every few seconds
would bloat the stream). Artifact, patch and seed bytes live here so they
survive the sandbox's ephemeral task directory; the stream only records their
size and sha256.

Revision ID: 0002_work_run_runtime
Revises: 0001_event_store
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002_work_run_runtime"
down_revision = "0001_event_store"
branch_labels = None
depends_on = None


_UPGRADE = [
    """
    -- One row per task: its current attempt. state: pending (waiting for a
    -- worker), leased (owner renews expires_at), released (attempt ended),
    -- stale (lease expired, AttemptMarkedStale appended).
    CREATE TABLE work_run_leases (
        task_id           text PRIMARY KEY,
        attempt_no        integer NOT NULL,
        attempt_id        text NOT NULL,
        state             text NOT NULL DEFAULT 'pending',
        owner             text,
        claimed_at        timestamptz,
        heartbeat_at      timestamptz,
        expires_at        timestamptz,
        cancel_requested  boolean NOT NULL DEFAULT false,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX work_run_leases_pending ON work_run_leases (created_at) WHERE state = 'pending'",
    "CREATE INDEX work_run_leases_expiry ON work_run_leases (expires_at) WHERE state = 'leased'",
    """
    CREATE TABLE work_run_artifacts (
        task_id       text NOT NULL,
        name          text NOT NULL,
        attempt_no    integer,
        size_bytes    bigint NOT NULL,
        sha256        text NOT NULL,
        content_type  text NOT NULL,
        content       bytea NOT NULL,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, name)
    )
    """,
    """
    CREATE TABLE work_run_patches (
        task_id     text NOT NULL,
        attempt_no  integer NOT NULL,
        sha256      text NOT NULL,
        diff        bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, attempt_no)
    )
    """,
    """
    -- The seed as a gzip tar of the baseline tree: what a requeue starts from
    -- when the original workspace is gone.
    CREATE TABLE work_run_seeds (
        task_id     text PRIMARY KEY,
        sha256      text NOT NULL,
        archive     bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
    )
    """,
]

_DOWNGRADE = [
    "DROP TABLE work_run_seeds",
    "DROP TABLE work_run_patches",
    "DROP TABLE work_run_artifacts",
    "DROP TABLE work_run_leases",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
