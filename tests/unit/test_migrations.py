"""Every migration is reversible: down to nothing and back up leaves the same tables."""
from __future__ import annotations

import time

from sqlalchemy import create_engine, inspect, text

from opengp.store.migrate import downgrade, upgrade


def test_migrations_go_down_and_up_again(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/m.db")
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"jobs", "job_counts", "job_count_deltas", "users", "revoked_tokens", "services"} <= tables
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_jobs_stored_before_the_counts_are_counted(tmp_path):
    from opengp.core import Job, Status
    from opengp.store import JobQuery
    from opengp.store.sql import SqlStore, job_to_row

    url = f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    upgrade(engine, "0003")
    rows = [job_to_row(Job.new("A", "T", {}, owner=owner).evolve(status=status))
            for owner, status in [("ann", Status.SUCCEEDED), ("ann", Status.FAILED), (None, Status.SUCCEEDED)]]
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO jobs ({', '.join(rows[0])}) VALUES ({', '.join(':' + k for k in rows[0])})"),
                  rows)
    engine.dispose()
    store = SqlStore(url)           # migrates to the head
    try:
        assert store.query(JobQuery(service="A", kind="gp"))[0] == 3
        assert store.query(JobQuery(service="A", statuses=frozenset({Status.SUCCEEDED})))[0] == 2
        assert store.query(JobQuery(owner="ann", created_before=time.time() + 1))[0] == 2
    finally:
        store.close()


def test_the_counted_statuses_are_the_terminal_ones():
    """Migration 0004's triggers spell out the finished statuses; the store counts
    the others live.  A new terminal status needs a migration that updates them."""
    import importlib.util

    from opengp.core import TERMINAL
    from opengp.store.migrate import MIGRATIONS

    spec = importlib.util.spec_from_file_location("m0004", MIGRATIONS / "versions" / "0004_job_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.FINISHED) == {s.value for s in TERMINAL}
