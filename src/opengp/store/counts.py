"""Exact totals for :class:`JobQuery` without counting every row, and the folding that keeps
them cheap.

Triggers (migration 0004) append +1/-1 rows to ``job_count_deltas`` as jobs finish (or are
stored finished) and as finished jobs go; a fold moves their sums into ``job_counts``.  So
the finished jobs matching a query's service, task, kind, status and owner number
sum(job_counts) + sum(job_count_deltas), read in a few index lookups; unfinished jobs are few
and counted through the status index; a time filter is applied on top by counting through an
index (see :func:`count`).  :func:`pg_count_sql` is the same computation as one PostgreSQL
statement: the two must agree (the contract suite checks both against a scan).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..core import Status, TERMINAL
from .base import JobQuery
from .queries import filter_conds, jobs_key_branches, key_conds, time_conds, where

Execute = Callable[[str, dict[str, Any]], list[Any]]
INSIDE_BELOW = 0.5   # count the jobs in a window spanning less than this share of all, else those outside
FOLD_EVERY = 1_000         # writes by a store between folds
FOLD_SEEN = 20_000         # deltas a query summed that make it fold them
FOLD_LOCK = 0x6F70656E6770  # PostgreSQL advisory lock: one fold at a time
_NOT_BY_OWNER = {"owner = :owner": "owner || '' = :owner"}     # the same test, but no index term
_KEY = "service, kind, task, status, owner"
FOLD_SQLITE = (
    f"INSERT INTO job_counts ({_KEY}, n) SELECT {_KEY}, sum(n) FROM job_count_deltas WHERE true "
    f"GROUP BY {_KEY} ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + excluded.n",
    "DELETE FROM job_count_deltas",
    "DELETE FROM job_counts WHERE n = 0",
)
FOLD_POSTGRES = (  # the DELETE takes each committed delta exactly once, even beside other writers
    f"WITH gone AS (DELETE FROM job_count_deltas RETURNING {_KEY}, n) "
    f"INSERT INTO job_counts ({_KEY}, n) SELECT {_KEY}, sum(n) FROM gone GROUP BY {_KEY} "
    f"ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + excluded.n",
    "DELETE FROM job_counts WHERE n = 0",
)


def counted(q: JobQuery) -> bool:
    """True when the count tables can answer (with the time window applied on top)."""
    return (q.owner != "" and q.user_name != "" and q.machine is None and q.processes is None
            and q.min_duration is None and q.max_duration is None)


def count(execute: Execute, q: JobQuery, params: dict[str, Any]) -> tuple[int, int]:
    """``(jobs matching q, count deltas summed)``, all read through ``execute`` (one snapshot).

    Finished jobs matching all but the time filter are summed from the
    count tables; unfinished ones are few and counted through the status
    index.  A time filter is then applied by counting, through an index,
    whichever looks smaller: the jobs inside the window, or those outside
    it (subtracted).  Which is smaller is guessed from where the window
    falls between the oldest and newest job; all reads share one
    snapshot, so either way the count is exact.
    """
    branches = jobs_key_branches(q)
    times = time_conds(q)
    inside = " + ".join(f"(SELECT count(*) FROM jobs{where(b + filter_conds(q))})" for b in branches)
    if not counted(q):         # not in the count tables: count the jobs
        return execute(f"SELECT {inside}", params)[0][0], 0
    wanted = frozenset(Status) if q.statuses is None else q.statuses
    parts = ["(SELECT count(*) FROM job_count_deltas)"]
    if wanted & TERMINAL:
        finished = where(key_conds(q, None, wanted & TERMINAL)[0])
        parts += [f"(SELECT coalesce(sum(n), 0) FROM job_counts{finished})",
                  f"(SELECT coalesce(sum(n), 0) FROM job_count_deltas{finished})"]
    if wanted - TERMINAL:   # through the status index, never the owner's (SQLite may think it better)
        parts += [f"(SELECT count(*) FROM jobs{where([_NOT_BY_OWNER.get(c, c) for c in b])})"
                  for b in jobs_key_branches(q, wanted - TERMINAL)]
    if times:
        span = where(["service = :service", "kind = :kind"] if q.service is not None and q.kind is not None
                     else [])
        parts += [f"(SELECT min(created) FROM jobs{span})", f"(SELECT max(created) FROM jobs{span})"]
    summed, *values = execute(f"SELECT {', '.join(parts)}", params)[0]
    if not times:
        return sum(values), summed
    *counts, oldest, newest = values
    total = sum(counts)
    if oldest is None:
        return 0, summed
    start = oldest if q.created_after is None else max(q.created_after, oldest)
    end = newest if q.created_before is None else min(q.created_before, newest)
    if newest > oldest and (end - start) / (newest - oldest) < INSIDE_BELOW:
        return execute(f"SELECT {inside}", params)[0][0], summed
    cuts = [cut for cut, value in (("created > :before", q.created_before), ("created < :after", q.created_after))
            if value is not None]
    outside = " + ".join(f"(SELECT count(*) FROM jobs{where(b + [cut])})" for cut in cuts for b in branches)
    return total - execute(f"SELECT {outside}", params)[0][0], summed


def pg_count_sql(q: JobQuery) -> str:
    """PostgreSQL: what :func:`count` computes in several statements, as one
    ``SELECT _total, _summed``.  Inside the ``CASE``, PostgreSQL runs only the count
    the chosen branch names (a scalar subquery is evaluated when first needed)."""
    branches = jobs_key_branches(q)
    inside = " + ".join(f"(SELECT count(*) FROM jobs{where(b + filter_conds(q))})" for b in branches)
    if not counted(q):
        return f"SELECT {inside} AS _total, 0 AS _summed"
    wanted = frozenset(Status) if q.statuses is None else q.statuses
    parts = []
    if wanted & TERMINAL:
        finished = where(key_conds(q, None, wanted & TERMINAL)[0])
        parts += [f"(SELECT coalesce(sum(n), 0) FROM job_counts{finished})",
                  f"(SELECT coalesce(sum(n), 0) FROM job_count_deltas{finished})"]
    if wanted - TERMINAL:
        parts += [f"(SELECT count(*) FROM jobs{where([_NOT_BY_OWNER.get(c, c) for c in b])})"
                  for b in jobs_key_branches(q, wanted - TERMINAL)]
    total = " + ".join(parts) or "0"
    summed = "(SELECT count(*) FROM job_count_deltas)"
    if not time_conds(q):
        return f"SELECT {total} AS _total, {summed} AS _summed"
    span = where(["service = :service", "kind = :kind"] if q.service is not None and q.kind is not None else [])
    start = "oldest" if q.created_after is None else "greatest(:after, oldest)"
    end = "newest" if q.created_before is None else "least(:before, newest)"
    cuts = [cut for cut, value in (("created > :before", q.created_before), ("created < :after", q.created_after))
            if value is not None]
    outside = " + ".join(f"(SELECT count(*) FROM jobs{where(b + [cut])})" for cut in cuts for b in branches)
    return (f"SELECT CASE WHEN oldest IS NULL THEN 0 WHEN newest > oldest AND ({end} - {start}) / (newest - oldest) "
            f"< {INSIDE_BELOW} THEN {inside} ELSE counted - ({outside}) END AS _total, _summed "
            f"FROM (SELECT {total} AS counted, {summed} AS _summed, (SELECT min(created) FROM jobs{span}) AS oldest, "
            f"(SELECT max(created) FROM jobs{span}) AS newest OFFSET 0) AS s")


def fold_sqlite(conn: sqlite3.Connection) -> None:
    """Fold the deltas on SQLite's write connection (its caller holds the write lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in FOLD_SQLITE:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
