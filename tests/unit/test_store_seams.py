"""The store is used through its protocols only (store/base.py): no module outside
``opengp/store`` touches a store's engine, its private helpers, or sets its attributes.
What callers used to reach for has a public door: ``open_deployment_record(store)`` (the
command line), ``Store.after_fork()`` (the Celery child), ``open_store(url, cache=...)``
(a scale-out API server's job cache), ``notify.announce_changes(store, url)``."""
from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "opengp"

# reaching into a store: its engine (any spelling of an access to it), a private name of
# anything called a store, a getattr of either, or an attribute set on it from outside
REACH = re.compile(r"\.engine\b"
                   r"|store\w*\._\w"
                   r"|getattr\(\s*[\w.]*store\w*\s*,\s*[\"'](?:engine|_)"
                   r"|store\w*\.\w+\s*=[^=]", re.IGNORECASE)


def reaches(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("store/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if REACH.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_nothing_outside_the_store_reaches_into_it():
    assert reaches(SRC) == []


def test_the_scan_catches_each_way_of_reaching_in(tmp_path):
    caught = ["check(store.engine, facts)", "main_store.engine.dispose(close=False)",
              "with self.store.engine.connect() as c:", "rows = store._pg_read(lambda c: c)",
              "self._store._write_sql(sql, {})", 'engine = getattr(job_store, "engine", None)',
              "store.events = events", "self.store.cache = JobCache()"]
    fine = ["store.transition_count == 1", "self.store = store", "store.get(job_id)", "create_engine(url)",
            "jobs = store.query(q)"]
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "sql.py").write_text("\n".join(caught))      # the store itself may
    (tmp_path / "caller.py").write_text("\n".join(caught + fine))
    assert reaches(tmp_path) == [f"caller.py:{n}: {line}" for n, line in enumerate(caught, 1)]
