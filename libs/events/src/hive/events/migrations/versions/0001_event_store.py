"""Event store: streams, events, projection cursors, snapshots, the WorkRun read model.

Revision ID: 0001_event_store
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001_event_store"
down_revision = None
branch_labels = None
depends_on = None

_UPGRADE = [
    """
    CREATE TABLE streams (
        stream_id   text PRIMARY KEY,
        category    text NOT NULL,
        version     bigint NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        archived    boolean NOT NULL DEFAULT false
    )
    """,
    "CREATE INDEX streams_category ON streams (category)",
    # Per-stream versions are gapless; global_position is drawn only after the
    # stream's version check passed (see store.py). tx_id orders global reads.
    # No NOTIFY trigger: the store sends a coalesced wake-up hint after appends.
    """
    CREATE TABLE events (
        stream_id        text NOT NULL,
        stream_version   bigint NOT NULL,
        global_position  bigint GENERATED ALWAYS AS IDENTITY,
        event_id         uuid NOT NULL UNIQUE,
        event_type       text NOT NULL,
        schema_version   integer NOT NULL DEFAULT 1,
        payload          jsonb NOT NULL,
        metadata         jsonb,
        tx_id            xid8 NOT NULL DEFAULT pg_current_xact_id(),
        recorded_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stream_id, stream_version)
    )
    """,
    "CREATE INDEX events_global ON events (tx_id, global_position)",
    """
    CREATE TABLE projection_cursors (
        name              text PRIMARY KEY,
        tx_id             xid8 NOT NULL DEFAULT '0',
        global_position   bigint NOT NULL DEFAULT 0,
        events_processed  bigint NOT NULL DEFAULT 0,
        code_version      integer NOT NULL DEFAULT 0,
        updated_at        timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE snapshots (
        stream_id           text NOT NULL,
        projection          text NOT NULL,
        projection_version  integer NOT NULL,
        stream_version      bigint NOT NULL,
        state               bytea NOT NULL,
        created_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (stream_id, projection)
    )
    """,
    """
    CREATE TABLE work_runs (
        task_id         text PRIMARY KEY,
        project_id      text NOT NULL,
        state           text NOT NULL,
        stream_version  bigint NOT NULL,
        data            bytea NOT NULL,
        updated_at      timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX work_runs_project ON work_runs (project_id, state)",
]

_DOWNGRADE = [
    "DROP TABLE work_runs",
    "DROP TABLE snapshots",
    "DROP TABLE projection_cursors",
    "DROP TABLE events",
    "DROP TABLE streams",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
