"""GP service webhooks, and the outbox their deliveries (and OGC callbacks) wait in.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("hook_url", sa.Text, nullable=False),
        sa.Column("signature_key", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("payload_format", sa.String(16), nullable=False),
        sa.Column("change_types", sa.Text, nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("modified_by", sa.String(255)),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("modified", sa.Float, nullable=False),
    )
    op.create_index("ux_webhooks_service_name", "webhooks", ["service", "name"], unique=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_time", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.Float, nullable=False),
        sa.Column("leased_by", sa.String(255)),
        sa.Column("lease_until", sa.Float),
        sa.Column("last_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("history", sa.Text),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt"])
    op.create_index("ix_outbox_target_time", "outbox", ["target", "event_time"])
    op.create_index("ix_outbox_job", "outbox", ["job_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("webhooks")
