"""Claims by service and per-node leases: the SQL of scale-out (docs/scale-out-design.md §4).

A broker message only says "service S has work"; whoever receives it claims S's
oldest queued job here, in one compare-and-set, so a duplicated message runs
nothing twice and ``max_instances`` holds across every worker.  On PostgreSQL a
limited service's claims take turns on a transaction advisory lock (without it,
two claimers each miss the other's uncommitted claim and both count below the
limit); SQLite serialises writers anyway.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..core import Job, Status, StoreError
from ..core.status import OPEN, RUNNING
from ..system.metrics import job_claimed
from .base import Backlog, Lease
from .rows import job_from_row
from .statements import ASYNC_COMMIT
from .tables import CLAIMABLE, status_literals


_RUNNING = f"status IN ({status_literals(RUNNING)}) AND kind <> 'admin'"
_NEXT = f"SELECT id FROM jobs WHERE service = :service AND {CLAIMABLE} AND cancel_requested = false " \
        "ORDER BY created, id LIMIT 1"
_CLAIM_NEXT = ("UPDATE jobs SET status = 'executing', started = :now, updated = :now, worker = :worker, "
               "heartbeat = {clock}, attempts = attempts + 1 WHERE id = ({next}{skip}){limit} RETURNING *")
_UNDER_LIMIT = f" AND (SELECT count(*) FROM jobs WHERE service = :service AND {_RUNNING}) < :limit"
_RENEW = (f"UPDATE jobs SET heartbeat = {{clock}} WHERE status IN ({status_literals(RUNNING)}) AND worker IN ({{names}}) "
          "RETURNING id, service, status, started, cancel_requested, worker")
_STALE = f"SELECT * FROM jobs WHERE {_RUNNING} AND coalesce(heartbeat, 0) < {{clock}} - :lease"
_STALE_OPERATIONS = (f"SELECT * FROM jobs WHERE kind = 'admin' AND status IN ({status_literals(OPEN)}) "
                     "AND coalesce(heartbeat, updated) < {clock} - :age")
_QUEUED_BY_SERVICE = (f"SELECT service, count(*), min(created) FROM jobs WHERE {CLAIMABLE} "
                      "AND cancel_requested = false GROUP BY service")
_RUNNING_BY_SERVICE = f"SELECT service, count(*) FROM jobs WHERE {_RUNNING} GROUP BY service"
_LOCK_KEY = "hashtextextended(:key, 0)"
_LOCK_WAIT = 120.0        # seconds a blocking lock() waits before it fails, saying why


class ClaimsMixin:
    """The scale-out part of :class:`opengp.store.sql.SqlStore` (it provides the plumbing)."""

    is_sqlite: bool
    clock: str          # SQL for "now" in epoch seconds: the database's clock on PostgreSQL
    engine: Any
    _write_sql: Any     # (sql, params, before) -> RETURNING rows
    _snapshot: Any      # (fn(execute)) -> fn's result, in one read transaction
    _changed: Any       # (job id) -> None: announce a committed change (store/notify.py)

    def claim_next(self, service: str, worker: str, limit: int | None = None) -> Job | None:
        sql = _CLAIM_NEXT.format(clock=self.clock, next=_NEXT, skip="" if self.is_sqlite else " FOR UPDATE SKIP LOCKED",
                                 limit="" if limit is None else _UNDER_LIMIT)
        params = {"service": service, "worker": worker, "now": time.time(), "limit": limit}
        before = () if limit is None else ((f"SELECT pg_advisory_xact_lock({_LOCK_KEY})",
                                            {"key": f"opengp.claim:{service}"}),)
        rows = self._write_sql(sql, params, before)
        if not rows:
            return None
        job = job_from_row(rows[0])
        self._changed(job.id)
        job_claimed(job)
        return self._started(job)

    def next_queued(self, service: str) -> str | None:
        rows = self._snapshot(lambda execute: execute(_NEXT, {"service": service}))
        return rows[0][0] if rows else None

    def renew_leases(self, workers: Sequence[str]) -> list[Lease]:
        if not workers:
            return []
        params: dict[str, Any] = {f"w{i}": name for i, name in enumerate(workers)}
        params["now"] = time.time()
        sql = _RENEW.format(clock=self.clock, names=", ".join(f":w{i}" for i in range(len(workers))))
        rows = self._write_sql(sql, params, ASYNC_COMMIT)
        return [Lease(r[0], r[1], Status(r[2]), r[3], bool(r[4]), r[5]) for r in rows]

    def stale(self, lease: float) -> list[Job]:
        rows = self._snapshot(lambda execute: execute(_STALE.format(clock=self.clock),
                                                      {"lease": lease, "now": time.time()}))
        return [job_from_row(r) for r in rows]

    def stale_operations(self, age: float) -> list[Job]:
        rows = self._snapshot(lambda execute: execute(_STALE_OPERATIONS.format(clock=self.clock),
                                                      {"age": age, "now": time.time()}))
        return [job_from_row(r) for r in rows]

    def backlog(self) -> list[Backlog]:
        def read(execute: Any) -> tuple[list[Any], list[Any]]:
            return execute(_QUEUED_BY_SERVICE, {}), execute(_RUNNING_BY_SERVICE, {})

        queued, running = self._snapshot(read)
        counts = {r[0]: r[1] for r in running}
        return [Backlog(r[0], r[1], r[2], counts.get(r[0], 0)) for r in sorted(queued)]

    @contextmanager
    def try_lock(self, name: str) -> Iterator[bool]:
        if self.is_sqlite:      # one server per SQLite file (lock_data_dir)
            yield True
            return
        with self._advisory(name, "pg_try_advisory_lock") as got:
            yield got

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        if self.is_sqlite:      # one server per SQLite file; SQLite serialises writers anyway
            yield
            return
        with self._advisory(name, "pg_advisory_lock"):
            yield

    @contextmanager
    def _advisory(self, name: str, function: str) -> Iterator[bool]:
        """A session advisory lock on a connection of its own, released (and the connection
        returned) on exit; yields whether it was granted."""
        key = {"key": f"opengp.{name}"}
        conn = None
        try:
            conn = self.engine.connect()
            if function == "pg_advisory_lock":      # a holder stuck for this long is an error, not a wait
                conn.execute(text(f"SET LOCAL lock_timeout = '{int(_LOCK_WAIT * 1000)}ms'"))
            got = conn.execute(text(f"SELECT {function}({_LOCK_KEY})"), key).scalar() is not False
            conn.commit()
        except SQLAlchemyError as exc:
            if conn is not None:
                conn.close()
            if "lock timeout" in str(exc):
                raise StoreError(f"another opengp process has held the '{name}' lock for {_LOCK_WAIT:.0f} s "
                                 "(one stuck while starting?)") from exc
            raise StoreError(f"job store lock failed: {exc}") from exc
        try:
            yield got
        finally:
            try:
                if got:
                    conn.execute(text(f"SELECT pg_advisory_unlock({_LOCK_KEY})"), key)
                    conn.commit()
            except SQLAlchemyError:
                conn.invalidate()       # closing the session is what releases the lock then
                raise
            finally:
                conn.close()
