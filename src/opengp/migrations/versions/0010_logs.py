"""The server log kept in the store (admin API logs/query).

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("time", sa.BigInteger, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("logger", sa.String(255), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("machine", sa.String(255), nullable=False),
        sa.Column("process", sa.Integer, nullable=False),
        sa.Column("thread", sa.String(64), nullable=False),
        sa.Column("method", sa.String(255), nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("service", sa.String(255)),
        sa.Column("username", sa.String(255)),
    )
    op.create_index("ix_logs_time", "logs", ["time"])
    op.create_index("ix_logs_job", "logs", ["job_id"])


def downgrade() -> None:
    op.drop_table("logs")
