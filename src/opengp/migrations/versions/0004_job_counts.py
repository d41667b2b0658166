"""Counts of finished jobs kept by triggers, and indexes for the admin jobs query.

A finished job (status succeeded, failed, timed_out or cancelled) is counted
by triggers in the transaction that writes it: ``job_count_deltas`` gets a
+1 row when a job enters one of those statuses (or is inserted in one), and
-1 when it leaves (or is deleted), keyed by service, kind, task, status and
owner ('' for none).  So every writer keeps the counts exact, whatever code
path it takes, and a job's life costs one trigger run, when it finishes.
Unfinished jobs are few and are counted from the status index instead.  The
store folds the deltas into ``job_counts`` now and then
(``SqlStore.fold_counts``).  Jobs already stored are counted here, in the
transaction that makes the triggers.

The finished statuses are spelled out below: a new terminal status needs a
migration (tests/unit/test_migrations.py checks they match ``TERMINAL``).

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FINISHED = ("cancelled", "failed", "succeeded", "timed_out")
KEY = ("service", "kind", "task", "status", "owner")
_NEW = ", ".join(f"coalesce(NEW.{c}, '')" if c == "owner" else f"NEW.{c}" for c in KEY)
_OLD = _NEW.replace("NEW.", "OLD.")
_COLS = ", ".join(KEY) + ", n"
_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in KEY)
_SQLITE_CHANGED = _CHANGED.replace("IS DISTINCT FROM", "IS NOT")


def _finished(row: str) -> str:
    # not "status IN (...)": SQLite builds a temporary table for a list of more than two
    # values each time it tests one, which tripled what these triggers cost a job
    return "(" + " OR ".join(f"{row}.status = '{s}'" for s in FINISHED) + ")"



SQLITE_TRIGGERS = {
    "jobs_count_insert": f"AFTER INSERT ON jobs WHEN {_finished('NEW')} BEGIN "
                         f"INSERT INTO job_count_deltas ({_COLS}) VALUES ({_NEW}, 1); END",
    "jobs_count_delete": f"AFTER DELETE ON jobs WHEN {_finished('OLD')} BEGIN "
                         f"INSERT INTO job_count_deltas ({_COLS}) VALUES ({_OLD}, -1); END",
    "jobs_count_update": f"AFTER UPDATE OF {', '.join(KEY)} ON jobs "
                         f"WHEN ({_finished('OLD')} OR {_finished('NEW')}) AND ({_SQLITE_CHANGED}) BEGIN "
                         f"INSERT INTO job_count_deltas ({_COLS}) SELECT {_OLD}, -1 WHERE {_finished('OLD')}; "
                         f"INSERT INTO job_count_deltas ({_COLS}) SELECT {_NEW}, 1 WHERE {_finished('NEW')}; END",
}

POSTGRES_FUNCTION = f"""CREATE OR REPLACE FUNCTION opengp_job_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND {_finished('OLD')} THEN
    INSERT INTO job_count_deltas ({_COLS}) VALUES ({_OLD}, -1);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND {_finished('NEW')} THEN
    INSERT INTO job_count_deltas ({_COLS}) VALUES ({_NEW}, 1);
  END IF;
  RETURN NULL;
END $$"""
POSTGRES_TRIGGERS = {
    "jobs_count_insert": f"AFTER INSERT ON jobs FOR EACH ROW WHEN {_finished('NEW')}",
    "jobs_count_delete": f"AFTER DELETE ON jobs FOR EACH ROW WHEN {_finished('OLD')}",
    "jobs_count_update": f"AFTER UPDATE OF {', '.join(KEY)} ON jobs FOR EACH ROW "
                         f"WHEN (({_finished('OLD')} OR {_finished('NEW')}) AND ({_CHANGED}))",
}

# (status, ...) replaces (status, created): still the one index a status change rewrites
INDEXES = {
    "ix_jobs_service_kind_created": ["service", "kind", "created"],
    "ix_jobs_status_service_kind_created": ["status", "service", "kind", "created"],
    "ix_jobs_service_kind_owner_created": ["service", "kind", "owner", "created"],
}
REPLACED = {"ix_jobs_service_created": ["service", "created"], "ix_jobs_status_created": ["status", "created"]}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "job_counts",
        sa.Column("service", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("task", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "job_count_deltas",
        sa.Column("service", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
    )
    if postgres:   # no job is written between the triggers and the count: jobs is locked until commit
        op.execute("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")
        op.execute(POSTGRES_FUNCTION)
        for name, spec in POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {spec} EXECUTE FUNCTION opengp_job_counts()")
    else:
        for name, spec in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {spec}")
    op.execute(f"INSERT INTO job_counts ({_COLS}) SELECT service, kind, task, status, coalesce(owner, ''), "
               f"count(*) FROM jobs WHERE {_finished('jobs')} GROUP BY service, kind, task, status, coalesce(owner, '')")
    for name in REPLACED:
        op.drop_index(name, table_name="jobs")
    for name, columns in INDEXES.items():
        op.create_index(name, "jobs", columns)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in INDEXES:
        op.drop_index(name, table_name="jobs")
    for name, columns in REPLACED.items():
        op.create_index(name, "jobs", columns)
    for name in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" + (" ON jobs" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION opengp_job_counts()")
    op.drop_table("job_count_deltas")
    op.drop_table("job_counts")
