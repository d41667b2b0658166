"""Usage report definitions, and ended jobs indexed by when they ended (store/usage.py).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FINISHED = "finished IS NOT NULL"       # spelled as store/tables.FINISHED


def upgrade() -> None:
    op.create_table(
        "usage_reports",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_jobs_finished", "jobs", ["finished"], postgresql_where=sa.text(FINISHED),
                    sqlite_where=sa.text(FINISHED))


def downgrade() -> None:
    op.drop_index("ix_jobs_finished", table_name="jobs")
    op.drop_table("usage_reports")
