"""The jobs table.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("finished", sa.Float),
        sa.Column("progress", sa.Text),
        sa.Column("messages", sa.Text),
        sa.Column("inputs", sa.Text),
        sa.Column("options", sa.Text),
        sa.Column("results", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("request_id", sa.String(64)),
        sa.Column("operation_uri", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("worker", sa.String(255)),
        sa.Column("heartbeat", sa.Float),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("expires", sa.Float),
    )
    op.create_index("ix_jobs_service_created", "jobs", ["service", "created"])
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created"])
    op.create_index("ix_jobs_owner_created", "jobs", ["owner", "created"])
    op.create_index("ix_jobs_created", "jobs", ["created"])
    op.create_index("ix_jobs_expires", "jobs", ["expires"])


def downgrade() -> None:
    op.drop_table("jobs")
