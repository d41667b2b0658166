"""Grow opengp's SQLite job table to N rows by copying the real jobs already in it.

Why copying: submitting 1,000,000 jobs over HTTP would take minutes and measure submit,
not lookup. Target 3 asks whether a status GET slows down as the table grows, so the
rows only need to be realistic (same columns, sizes and indexes as real finished jobs).

How: with the server stopped, ``INSERT INTO jobs SELECT ...`` doubles the table until it
holds ``target`` rows; each copy gets a fresh random id of the same shape as the original
(prefix + hex), so ids spread over the primary-key B-tree like real ones. Every other
column is copied as is. The column list is read from the file at run time
(PRAGMA table_info), so this follows schema changes without edits.
"""
from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path


def _id_expr(sample_id: str) -> str:
    """SQL expression making a new id shaped like ``sample_id`` (e.g. 'j' + 32 hex)."""
    m = re.fullmatch(r"([^0-9a-f]*)([0-9a-f]+)", sample_id)
    if m and len(m.group(2)) % 2 == 0:
        prefix, nhex = m.group(1), len(m.group(2))
        return f"'{prefix}' || lower(hex(randomblob({nhex // 2})))"
    # Unknown shape: keep the original and append a random suffix (still unique).
    return "id || '-' || lower(hex(randomblob(8)))"


def fill_jobs(db_path: Path, target: int, table: str = "jobs") -> dict:
    """Double the rows of ``table`` in ``db_path`` until it holds ``target``; returns stats."""
    t0 = time.perf_counter()
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        cols = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        pk = [row[1] for row in conn.execute(f"PRAGMA table_info({table})") if row[5]]
        if pk != ["id"]:
            raise RuntimeError(f"expected primary key (id) on {table}, found {pk}; columns {cols}")
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if count == 0:
            raise RuntimeError(f"{table} is empty: submit some real jobs first")
        sample = conn.execute(f"SELECT id FROM {table} LIMIT 1").fetchone()[0]
        others = [c for c in cols if c != "id"]
        col_list = ", ".join(["id"] + others)
        select = ", ".join([_id_expr(sample)] + others)
        conn.execute("PRAGMA synchronous=OFF")  # a bench fixture: speed over crash safety
        rounds = 0
        while count < target:
            n = min(count, target - count)
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO {table} ({col_list}) SELECT {select} FROM {table} LIMIT {n}")
            conn.execute("COMMIT")
            count += n
            rounds += 1
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no ANALYZE: leave the planner as opengp has it
        final = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()
    return {"rows": final, "rounds": rounds, "seconds": round(time.perf_counter() - t0, 1),
            "db_bytes": db_path.stat().st_size, "columns": cols}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path, help="path to opengp.db (server stopped)")
    ap.add_argument("target", type=int)
    a = ap.parse_args()
    print(fill_jobs(a.db, a.target))
