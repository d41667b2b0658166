"""Dismissed jobs: remembered (id and owner) so OGC API - Processes can answer 410 Gone.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dismissed_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(255)),
        sa.Column("expires", sa.Float, nullable=False),
    )
    op.create_index("ix_dismissed_jobs_expires", "dismissed_jobs", ["expires"])


def downgrade() -> None:
    op.drop_index("ix_dismissed_jobs_expires", table_name="dismissed_jobs")
    op.drop_table("dismissed_jobs")
