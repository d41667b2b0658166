"""Scale-out: a partial index of the jobs a worker may claim, oldest first per service.

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The same text as opengp.store.claims.CLAIMABLE: SQLite uses a partial index only for a
# query that repeats its predicate.
CLAIMABLE = "status IN ('new', 'submitted', 'waiting') AND kind <> 'admin'"


def upgrade() -> None:
    op.create_index("ix_jobs_queued", "jobs", ["service", "created", "id"],
                    postgresql_where=sa.text(CLAIMABLE), sqlite_where=sa.text(CLAIMABLE))


def downgrade() -> None:
    op.drop_index("ix_jobs_queued", table_name="jobs")
