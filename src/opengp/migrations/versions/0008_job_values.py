"""Large inputs and results kept apart from the job's row (``opengp.store.values``).

``job_values`` holds one row per value whose JSON is over 4 KB (role ``input``, ``result``,
or ``preview``: what a page shows of a big result); ``jobs.stored_inputs`` says which inputs
are there (``{name: size}``), and a result kept apart is ``{"dataType", "size", "count"}``
in ``jobs.results``.  The jobs stored before are moved over here, a batch at a time.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import orjson
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BATCH = 200
_INSERT = sa.text("INSERT INTO job_values (job_id, role, name, value) VALUES (:job_id, :role, :name, :value)")


def upgrade() -> None:
    op.create_table(
        "job_values",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.add_column("jobs", sa.Column("stored_inputs", sa.Text))
    _move_out(op.get_bind())


def _move_out(conn: sa.Connection) -> None:
    # the encoding is the store's own: a value moved here reads exactly like one stored now
    from opengp.store.values import INLINE_BYTES, encode_results, split_inputs

    after = ""
    while True:
        # ids a batch at a time, each row read alone: the rows moved are the big ones (a 50 MB
        # result), and a batch of them read at once could take gigabytes
        ids = [r[0] for r in conn.execute(sa.text(
            "SELECT id FROM jobs WHERE id > :after AND (length(inputs) > :n OR "
            "length(results) > :n) ORDER BY id LIMIT :batch"), {"after": after, "n": INLINE_BYTES, "batch": _BATCH})]
        for job_id in ids:
            kind, inputs, results = conn.execute(sa.text("SELECT kind, inputs, results FROM jobs WHERE id = :id"),
                                                 {"id": job_id}).one()
            apart = []
            inputs_column, stored, moved = split_inputs(orjson.loads(inputs) if inputs else {})
            apart += moved
            results_column = results
            tool_results = orjson.loads(results) if results and kind != "admin" else None   # admin: its own small shape
            if tool_results and all(isinstance(r, dict) and {"dataType", "value"} <= r.keys()
                                    for r in tool_results.values()):
                encoded = encode_results(tool_results)
                results_column = encoded.column
                apart += encoded.apart
            conn.execute(sa.text("UPDATE jobs SET inputs = :inputs, stored_inputs = :stored, results = :results "
                                 "WHERE id = :id"),
                         {"inputs": inputs_column, "stored": stored, "results": results_column, "id": job_id})
            if apart:
                conn.execute(_INSERT, [{"job_id": job_id, "role": role, "name": name, "value": value}
                                       for role, name, value in apart])
        if len(ids) < _BATCH:
            return
        after = ids[-1]


def downgrade() -> None:
    conn = op.get_bind()
    ids = [r[0] for r in conn.execute(sa.text("SELECT DISTINCT job_id FROM job_values"))]
    for job_id in ids:
        values = conn.execute(sa.text("SELECT role, name, value FROM job_values WHERE job_id = :id"),
                              {"id": job_id}).fetchall()
        row = conn.execute(sa.text("SELECT inputs, results FROM jobs WHERE id = :id"), {"id": job_id}).first()
        if row is None:
            continue
        inputs = orjson.loads(row[0]) if row[0] else {}
        results = orjson.loads(row[1]) if row[1] else None
        for role, name, value in values:
            if role == "input":
                inputs[name] = orjson.loads(value)
            elif role == "result" and results is not None and name in results:
                results[name] = {"dataType": results[name]["dataType"], "value": orjson.loads(value)}
        conn.execute(sa.text("UPDATE jobs SET inputs = :inputs, results = :results WHERE id = :id"), {
            "inputs": orjson.dumps(inputs).decode(), "id": job_id,
            "results": None if results is None else orjson.dumps(results).decode()})
    op.drop_column("jobs", "stored_inputs")
    op.drop_table("job_values")
