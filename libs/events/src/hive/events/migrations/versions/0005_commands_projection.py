"""Governed commands: the `commands` read model kept by the database itself.

An AFTER INSERT trigger on `events` projects CommandStarted / CommandFinished
into `commands` inside the statement that appends them, so the row can never
disagree with the stream and recording a command is a single append: one round
trip, no explicit transaction. Every writer of command events gets its row
this way, the sandbox's GovernedCommands and a coding backend recording its
own process alike. Facts that are not part of the events (which sandbox
instance supervises the process, its start time, the timeout, bytes dropped
past the log cap) travel in the event's `metadata`.

The trigger also guards the end of a command: a CommandFinished for a command
that already finished raises SQLSTATE HC001, aborting that append, so a reaper
racing the owner (or two reapers) record exactly one end.

Revision ID: 0005_commands_projection
Revises: 0004_gateway
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005_commands_projection"
down_revision = "0004_gateway"
branch_labels = None
depends_on = None


_UPGRADE = [
    # Commands recorded by other writers (a backend's own process) have no instance.
    "ALTER TABLE commands ALTER COLUMN instance_id DROP NOT NULL",
    """
CREATE FUNCTION hive_commands_project() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := NEW.payload;
    m jsonb := coalesce(NEW.metadata, '{}'::jsonb);
BEGIN
    IF NEW.event_type = 'CommandStarted' THEN
        INSERT INTO commands (command_id, task_id, attempt_no, stream_id, argv, cwd, state, pid,
                              pid_start_ticks, instance_id, timeout_s, started_at)
        VALUES (p->>'command_id', p->>'task_id', (p->>'attempt_no')::integer, NEW.stream_id,
                coalesce(p->'argv', '[]'::jsonb), coalesce(p->>'cwd', ''), 'running',
                (p->>'pid')::integer, (m->>'pid_start_ticks')::bigint, m->>'instance_id',
                (m->>'timeout_s')::double precision, (p->>'started_at')::timestamptz)
        ON CONFLICT (command_id) DO NOTHING;
    ELSE
        UPDATE commands SET
            state = p->>'state',
            exit_code = (p->>'exit_code')::integer,
            reason = p->>'reason',
            finished_at = (p->>'finished_at')::timestamptz,
            duration_s = (p->>'duration_s')::double precision,
            stdout_bytes = coalesce((p->>'stdout_bytes')::bigint, 0),
            stderr_bytes = coalesce((p->>'stderr_bytes')::bigint, 0),
            stdout_omitted = coalesce((m->>'stdout_omitted')::bigint, 0),
            stderr_omitted = coalesce((m->>'stderr_omitted')::bigint, 0)
        WHERE command_id = p->>'command_id' AND state = 'running';
        IF NOT FOUND AND EXISTS (SELECT 1 FROM commands WHERE command_id = p->>'command_id') THEN
            RAISE EXCEPTION 'command % already finished', p->>'command_id'
                USING ERRCODE = 'HC001';
        END IF;
    END IF;
    RETURN NULL;
END $$
    """,
    """
CREATE TRIGGER commands_projection AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type IN ('CommandStarted', 'CommandFinished'))
    EXECUTE FUNCTION hive_commands_project()
    """,
]

_DOWNGRADE = [
    "DROP TRIGGER commands_projection ON events",
    "DROP FUNCTION hive_commands_project()",
    "DELETE FROM commands WHERE instance_id IS NULL",
    "ALTER TABLE commands ALTER COLUMN instance_id SET NOT NULL",
]


def upgrade() -> None:
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in _DOWNGRADE:
        op.execute(statement)
