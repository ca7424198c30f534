"""Gateway: operators, server-side sessions, projects, task-token revocations, credentials.

Sessions are stored by an HMAC of the cookie value (keyed with
DASHBOARD_SESSION_SECRET), so a copy of this table grants no login.
Credentials hold AES-GCM ciphertext only; `hint` is the last characters of
the value, for operators to tell keys apart. A task token is revoked either
by its `jti` or, for every token of one task or agent issued up to a moment,
by `subject` + `issued_before`; rows are useless once `expires_at` (the
longest TTL the revoked tokens could have) has passed.

Revision ID: 0004_gateway
Revises: 0003_commands
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004_gateway"
down_revision = "0003_commands"
branch_labels = None
depends_on = None


_UPGRADE = [
    """
CREATE TABLE operators (
            user_id        text PRIMARY KEY,
            username       text NOT NULL UNIQUE,
            password_hash  text NOT NULL,
            is_admin       boolean NOT NULL DEFAULT false,
            disabled       boolean NOT NULL DEFAULT false,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
CREATE TABLE operator_sessions (
            session_hash  bytea PRIMARY KEY,
            user_id       text NOT NULL REFERENCES operators (user_id) ON DELETE CASCADE,
            created_at    timestamptz NOT NULL DEFAULT now(),
            expires_at    timestamptz NOT NULL
        )
    """,
    """
CREATE INDEX operator_sessions_user ON operator_sessions (user_id)
    """,
    """
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at)
    """,
    """
CREATE TABLE projects (
            project_id      text PRIMARY KEY,
            name            text NOT NULL UNIQUE,
            workspace_path  text NOT NULL,
            created_by      text,
            created_at      timestamptz NOT NULL DEFAULT now()
        )
    """,
    """
CREATE TABLE task_token_revocations (
            revocation_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            jti             text,
            subject         text,
            issued_before   timestamptz,
            expires_at      timestamptz NOT NULL,
            reason          text,
            revoked_at      timestamptz NOT NULL DEFAULT now(),
            CHECK ((jti IS NULL) <> (subject IS NULL)),
            CHECK (subject IS NULL OR issued_before IS NOT NULL)
        )
    """,
    """
CREATE UNIQUE INDEX task_token_revocations_jti ON task_token_revocations (jti)
            WHERE jti IS NOT NULL
    """,
    """
CREATE INDEX task_token_revocations_subject ON task_token_revocations (subject, issued_before)
            WHERE subject IS NOT NULL
    """,
    """
CREATE TABLE credentials (
            credential_id  text PRIMARY KEY,
            kind           text NOT NULL CHECK (kind IN ('provider', 'channel')),
            name           text NOT NULL,
            ciphertext     bytea NOT NULL,
            key_id         text NOT NULL,
            hint           text NOT NULL,
            created_by     text,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now(),
            UNIQUE (kind, name)
        )
    """,
]

_DOWNGRADE = [
    "DROP TABLE credentials",
    "DROP TABLE task_token_revocations",
    "DROP TABLE projects",
    "DROP TABLE operator_sessions",
    "DROP TABLE operators",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
