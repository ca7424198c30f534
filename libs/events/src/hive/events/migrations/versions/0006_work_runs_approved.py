"""Work Runs: find approvals to recover without scanning the read model.

Every sandbox worker asks the `work_runs` read model, every few seconds, for
tasks left `approved` (a replica died between TaskApproved and the apply
result; see `WorkRuns.recover_approved`). The existing index leads with
project_id, so that question was a sequential scan of every Work Run; this
partial index holds only the (normally zero or few) approved rows, in the
order the query reads them.

Revision ID: 0006_work_runs_approved
Revises: 0005_commands_projection
Create Date: 2026-11-26
"""

from alembic import op

revision = "0006_work_runs_approved"
down_revision = "0005_commands_projection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX work_runs_approved ON work_runs (updated_at DESC) WHERE state = 'approved'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX work_runs_approved")
