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
    from opengp.store.rows import job_to_row
    from opengp.store.sql import SqlStore

    url = f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    upgrade(engine, "0003")
    rows = [_row_of_0003(job_to_row(Job.new("A", "T", {}, owner=owner).evolve(status=status)))
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


def _row_of_0003(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "stored_inputs"}        # (migration 0008's)


def test_large_values_stored_before_are_moved_out_of_the_job_rows(tmp_path):
    """Migration 0008: a job stored with a 50 MB result in its row polled that slowly for as long
    as it was kept; once migrated, its row is small and its values are read only when sent."""
    import orjson

    from opengp.core import Job, Kind, Status, Stored
    from opengp.store.rows import job_to_row
    from opengp.store.sql import SqlStore

    url = f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    upgrade(engine, "0007")
    features = {"geometryType": "esriGeometryPoint",
                "features": [{"geometry": {"x": i, "y": i}, "attributes": {"i": i}} for i in range(500)]}
    big_input, small = {"text": "x" * 10_000}, {"text": "hello"}
    job = Job.new("A", "T", {"big": big_input, "small": small}).evolve(status=Status.SUCCEEDED, results={
        "out": {"dataType": "GPFeatureRecordSetLayer", "value": features},
        "n": {"dataType": "GPLong", "value": 500}})
    row = _row_of_0003(job_to_row(job))
    row["inputs"] = orjson.dumps(job.inputs).decode()          # as versions before 0008 kept them
    row["results"] = orjson.dumps(job.results).decode()
    admin = Job.new("A", "edit", {}, kind=Kind.ADMIN).evolve(status=Status.SUCCEEDED,
                                                             results={"result": {"description": "d" * 9000}})
    admin_row = _row_of_0003(job_to_row(admin))
    with engine.begin() as c:
        for r in (row, admin_row):
            c.execute(text(f"INSERT INTO jobs ({', '.join(r)}) VALUES ({', '.join(':' + k for k in r)})"), r)
    upgrade(engine)
    with engine.connect() as c:
        size = c.execute(text("SELECT length(inputs) + length(results) FROM jobs WHERE id = :id"), {"id": job.id}).scalar()
    assert size < 1000
    store = SqlStore(url)
    try:
        moved = store.get(job.id)
        assert moved.inputs == {"big": Stored(len(orjson.dumps(big_input))), "small": small}
        assert moved.results["out"] == {"dataType": "GPFeatureRecordSetLayer",
                                        "value": Stored(len(orjson.dumps(features)), 500)}
        assert moved.results["n"] == {"dataType": "GPLong", "value": 500}
        assert orjson.loads(store.values(job.id, "result")["out"]) == features
        assert orjson.loads(store.values(job.id, "input", "big")["big"]) == big_input
        assert store.get(admin.id).results == admin.results          # an admin operation's own document
    finally:
        store.close()
    downgrade(engine, "0007")
    with engine.connect() as c:
        back = c.execute(text("SELECT inputs, results FROM jobs WHERE id = :id"), {"id": job.id}).first()
    assert orjson.loads(back[0]) == job.inputs and orjson.loads(back[1]) == job.results
    engine.dispose()


def test_every_large_row_is_moved_out_batch_after_batch(tmp_path):
    """Migration 0008 reads the big rows a batch of ids at a time (200), each row alone: with
    more than two batches of them, among small rows, every big one is moved and no small one."""
    import orjson

    from opengp.core import Job, Status
    from opengp.store.rows import job_to_row

    url = f"sqlite:///{tmp_path}/m.db"
    engine = create_engine(url)
    upgrade(engine, "0007")
    jobs = [Job.new("A", "T", {"text": ("x" * 5000 if i % 3 else "small") + str(i)}).evolve(status=Status.SUCCEEDED)
            for i in range(700)]
    with engine.begin() as c:
        for job in jobs:
            row = _row_of_0003(job_to_row(job))
            row["inputs"] = orjson.dumps(job.inputs).decode()
            c.execute(text(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
    upgrade(engine)
    with engine.connect() as c:
        apart = {r[0] for r in c.execute(text("SELECT job_id FROM job_values WHERE role = 'input'"))}
        widest = c.execute(text("SELECT max(length(inputs)) FROM jobs")).scalar()
    assert apart == {job.id for job in jobs if len(job.inputs["text"]) > 5000} and len(apart) > 400
    assert widest < 1000
    engine.dispose()
