"""The SQL Store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL.

This module is the store's behaviour, the same on both databases; what differs lives beside
it: ``sqlite.py`` and ``postgres.py`` (connections, transactions, driver errors),
``statements.py`` (the job statements), ``queries.py`` and ``counts.py`` (a JobQuery as SQL,
its exact total), ``claims.py`` (claims by service, leases), ``rows.py`` (a job as a row).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, create_engine, delete, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..core import Conflict, Job, Message, Progress, Status, StoreError, TERMINAL
from ..system.metrics import job_claimed, job_ended, store_error
from ..core.status import RUNNING, check_move
from . import counts, queries, statements as sql
from .base import JobQuery, check_fields
from .claims import ClaimsMixin
from .postgres import PgConnections
from .rows import dumps, encode_fields, encode_job, job_from_row, results_column, value_rows
from .outbox import (CALLBACK_INSERT, CALLBACKS_AT_END, ENQUEUE, FORGET_WAITING, WAKE_STARTED, at_end,
                     callback_rows, has_started_callback)
from .sqlite import SqliteConnections, pragmas
from .tables import dismissed_jobs, jobs, storable_id

if TYPE_CHECKING:
    from .cache import JobCache
    from .notify import JobEvents

T = TypeVar("T")
log = logging.getLogger("opengp.store")
_ACTIVE = tuple(s.value for s in RUNNING)


class SqlStore(ClaimsMixin):
    """A Store over a SQLAlchemy engine.  ``url`` is any SQLAlchemy URL.

    Writes are plain SQL text (``RETURNING``, string concatenation) that both
    SQLite 3.35+ and PostgreSQL run, on the driver itself (``sqlite.py``,
    ``postgres.py``); the small tables beside the jobs go through the engine.

    ``cache``: scale-out API servers answer finished jobs from memory (store/cache.py), kept
    right by a ``notify.Listener`` given the same cache.
    """

    def __init__(self, url: str, *, migrate: bool = True, cache: JobCache | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.local = self.is_sqlite     # calls take microseconds: fine on an event loop
        # leases are stamped and judged on the database's clock, so machines' clocks may differ
        self.clock = ":now" if self.is_sqlite else "extract(epoch from clock_timestamp())"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open job store {url!r}: {exc}") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", pragmas)
        if migrate:
            from .migrate import upgrade

            upgrade(self.engine)
        # one lock for SQLite's one writer (and the tables beside the jobs), and for the list of
        # PostgreSQL connections
        self._write_lock = threading.RLock()     # re-entered by a stamped create
        self._pg = None if self.is_sqlite else PgConnections(url, self.engine, self._write_lock)
        self._db: SqliteConnections | PgConnections = self._pg or SqliteConnections(
            self.engine.url.database or ":memory:", self._write_lock)
        self._writes = 0            # since the last fold of the count deltas
        # scale-out: announces job changes to other processes (store/notify.py); set by announce_changes
        self.events: JobEvents | None = None
        self.cache: JobCache | None = cache
        if migrate:
            self.fold_counts()

    def writer(self) -> threading.RLock | None:
        """SQLite's one writer's lock, for the stores of the tables beside the jobs (logs, report
        definitions, the outbox): their writes queue behind job writes instead of fighting them
        for the file (and failing as busy).  None on PostgreSQL, whose rows lock themselves."""
        return self._write_lock if self.is_sqlite else None

    # -- plumbing -------------------------------------------------------
    def _write_sql(self, statement: str, params: dict[str, Any] | list[dict[str, Any]],
                   before: Sequence[tuple[str, dict[str, Any]]] = (),
                   after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """Run one write statement in its own transaction; returns its RETURNING rows.
        ``before``: statements run first in the transaction on PostgreSQL only (locks,
        ``SET LOCAL``).  ``after``: statements (each with a list of parameter sets) run in
        the same transaction when the statement returned rows (a compare-and-set that
        won: a job's large values go with its end, or not at all).  Every ``FOLD_EVERY``
        writes, folds the count deltas they made."""
        self._writes += len(params) if isinstance(params, list) else 1
        fold = self._writes >= counts.FOLD_EVERY
        if fold:
            self._writes = 0
        rows = self._db.write(statement, params, before, after)
        if fold:
            self._fold_quietly()
        return rows

    def _snapshot(self, fn: Callable[[counts.Execute], T]) -> T:
        """Run ``fn(execute)`` in one read transaction (one snapshot on both databases)."""
        return self._db.snapshot(fn)

    def _fold_quietly(self) -> None:
        """Fold now; a failure is logged (the next fold takes these deltas too)."""
        try:
            self.fold_counts()
        except StoreError as exc:
            log.warning("folding job counts failed: %s", exc)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise store_error(StoreError(f"job store read failed: {exc}"), "read") from exc

    def _other_write(self, fn: Callable[[Connection], T]) -> T:
        """A write to a table beside the jobs (taking the writer's turn on SQLite)."""
        try:
            with self._write_lock, self.engine.begin() as c:
                return fn(c)
        except SQLAlchemyError as exc:
            raise store_error(StoreError(f"job store write failed: {exc}"), "write") from exc

    def _changed(self, job_id: str) -> None:
        """A committed write changed (or deleted) the job: forget it here, announce it to other
        processes (scale-out only)."""
        if self.cache is not None:
            self.cache.invalidate((job_id,))
        if self.events is not None:
            self.events.changed(job_id)

    def announce(self, events: JobEvents) -> None:
        """NOTIFY other processes of every job this store changes (``notify.announce_changes``)."""
        self.events = events

    # -- jobs -----------------------------------------------------------
    def create(self, job: Job, *, stamp: bool = False) -> Job:
        row, values = encode_job(job)       # (encoded outside the writer's lock: inputs may be large)
        after = ((sql.VALUES_INSERT, values),) if values else ()     # its large values, in the same transaction
        callbacks = callback_rows(job)
        if callbacks:                       # and its callbacks, waiting for their events
            after += ((CALLBACK_INSERT, callbacks),)
        try:
            if stamp and self.is_sqlite:    # stamped and stored under the one writer's lock
                with self._write_lock:
                    job = job.stamped(time.time())
                    row.update(created=job.created, updated=job.updated, expires=job.expires)
                    self._write_sql(sql.INSERT + " RETURNING id" if after else sql.INSERT, row, after=after)
            elif stamp:     # PostgreSQL's clock, inside the shared hold settled_time waits for
                [(created, updated, expires)] = self._write_sql(
                    sql.PG_INSERT_STAMPED, row, before=((sql.SETTLE_SHARED, {"settle_lock": sql.SETTLE_LOCK}),),
                    after=after)
                job = job.evolve(created=created, updated=updated, expires=expires)
            else:
                self._write_sql(sql.INSERT + " RETURNING id" if after else sql.INSERT, row, after=after)
        except Conflict as exc:
            raise Conflict(f"Job '{job.id}' already exists.") from exc
        return job

    def settled_time(self) -> float:
        """SQLite: under the writer's lock, which every stamped create holds from its stamp to
        its commit.  PostgreSQL: on its clock, once the jobs being created (each holding
        SETTLE_LOCK shared from its stamp to its commit) are committed; while it waits, new
        creates wait behind it, so it waits at most ``SETTLE_TIMEOUT`` (then StoreUnavailable)."""
        if self.is_sqlite:
            with self._write_lock:
                return time.time()
        [(now,)] = self._db.write(sql.SETTLE_NOW, {}, before=(
            (sql.SETTLE_TIMEOUT, {}), (sql.SETTLE_WAIT, {"settle_lock": sql.SETTLE_LOCK})))
        return float(now)

    def insert_many(self, many: Iterable[Job], chunk: int = 5000) -> None:
        """Bulk insert (benchmarks and imports); one transaction per chunk."""
        batch: list[dict[str, Any]] = []
        for job in many:
            row, values = encode_job(job)
            if values:
                self.create(job)
                continue
            batch.append(row)
            if len(batch) >= chunk:
                self._write_sql(sql.INSERT, batch)
                batch = []
        if batch:
            self._write_sql(sql.INSERT, batch)

    def get(self, job_id: str) -> Job | None:
        return self._cached_get(job_id, live=False)

    def peek(self, job_id: str) -> Job | None:
        """``get`` for display (status polls): on a scale-out API server an unfinished job may
        come from the cache, as of at most the notification delay ago (store/cache.py)."""
        return self._cached_get(job_id, live=True)

    def _cached_get(self, job_id: str, live: bool) -> Job | None:
        cache = self.cache
        if cache is None or self.is_sqlite:
            row = self._db.get_row(job_id)
            return None if row is None else job_from_row(row)
        job = cache.get(job_id, live)
        if job is None:
            token = cache.token()
            row = self._db.get_row(job_id)
            job = None if row is None else job_from_row(row)
            if job is not None:
                cache.put(job, token)
        return job

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        """The total and the page come from one snapshot of the store."""
        if queries.empty(q):
            return 0, []
        params = queries.params(q)
        if self._pg is not None:
            rows = self._pg.query(q, params)
            total, deltas = rows[0]["_total"], rows[0]["_summed"]     # rows by name (the reader's row factory)
            page_jobs = [job_from_row(r) for r in rows if r.get("id") is not None]
        else:
            total, deltas, page_jobs = self._snapshot(self._query_run(q, params))
        if deltas > counts.FOLD_SEEN:
            self._fold_quietly()
        return int(total), page_jobs        # PostgreSQL's sum(bigint) is numeric: a Decimal

    @staticmethod
    def _query_run(q: JobQuery, params: dict[str, Any]) -> Callable[..., tuple[int, int, list[Job]]]:
        """The query in several statements: count, then page, as ``_snapshot`` runs them."""
        page = queries.page_sql(q, postgres=False)

        def run(execute: counts.Execute) -> tuple[int, int, list[Job]]:
            total, deltas = counts.count(execute, q, params)
            rows = execute(page, params) if q.limit != 0 else []
            return total, deltas, [job_from_row(r) for r in rows]

        return run

    def _update(self, job_id: str, values: dict[str, Any], where: str, messages: Sequence[Message],
                returning: str = "*", before: Sequence[tuple[str, dict[str, Any]]] = (),
                extra: dict[str, Any] | None = None,
                after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """``extra``: parameters of ``where`` (``values`` are the columns set)."""
        statement = sql.update(tuple(values), f"id = :id AND {where}", bool(messages), returning,
                               values.get("finished") is not None)
        params = {**values, **(extra or {}), "id": job_id}
        if messages:
            params["new_messages"] = dumps([m.to_json() for m in messages])
        return self._write_sql(statement, params, before, after)

    def transition(self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any) -> Job | None:
        src = tuple(src)
        check_move(src, dst)
        messages = fields.pop("messages", ())
        if_worker = fields.pop("if_worker", None)
        check_fields(fields)
        large: tuple[tuple[str, str, bytes], ...] = ()
        if "results" in fields:
            fields["results"], large = results_column(fields["results"])
        values = encode_fields(fields)
        values["status"] = dst.value
        values["updated"] = time.time()
        # A cancel request is announced inside its own commit, like a deletion: other API servers
        # may show the job from their caches (``peek``), and the status read that follows a
        # cancel should see it wherever it lands (PostgreSQL sends it with the commit).  (Only cancels: a NOTIFY in a transaction
        # serialises committers, design §9.5; workers' changes go batched.)
        cancel = self.events is not None and fields.get("cancel_requested")
        announce = ((sql.NOTIFY, {"id": job_id}),) if cancel else ()
        where, extra = sql.is_("status", (s.value for s in src)), {}
        if if_worker is not None:
            where, extra = where + " AND worker = :if_worker", {"if_worker": if_worker}
        after = ((sql.VALUES_INSERT, value_rows(job_id, large)),) if large else ()
        if dst.terminal and dst not in src:     # it ends: what its webhooks and callbacks are owed commits with it
            after += ((ENQUEUE, [{"id": job_id}]), (CALLBACKS_AT_END, [at_end(job_id, dst)]))
        rows = self._update(job_id, values, where, messages, before=announce, extra=extra, after=after)
        if not rows:
            return None
        self._changed(job_id)
        job = job_from_row(rows[0])
        if dst.terminal and dst not in src:     # counted where it commits, once, whoever asked for it
            job_ended(job)
        return job

    def report(self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None) -> None:
        values: dict[str, Any] = {"updated": time.time()}
        if progress is not None:
            values["progress"] = dumps(progress.to_json())
        self._update(job_id, values, f"NOT {sql.is_('status', sql.TERMINAL_VALUES)}", messages, returning="")
        self._changed(job_id)

    def delete(self, job_id: str) -> bool:
        if not storable_id(job_id):
            return False
        # Other API servers may hold the job in their caches.  Its NOTIFY goes in the delete's own
        # transaction: PostgreSQL delivers it with the commit, before this call returns, so a client
        # told "deleted" that asks another server next finds that server already told.
        announce = () if self.events is None else ((sql.NOTIFY, {"id": job_id}),)
        gone = bool(self._write_sql(sql.DELETE, {"id": job_id}, before=announce,
                                    after=((sql.VALUES_DELETE, [{"id": job_id}]),
                                           (FORGET_WAITING, [{"id": job_id}]))))
        if gone and self.cache is not None:
            self.cache.invalidate((job_id,))
        return gone

    def values(self, job_id: str, role: str, name: str | None = None) -> dict[str, bytes]:
        """The job's large values of ``role`` (one, with ``name``): ``{name: JSON bytes}``."""
        statement, params = sql.VALUES, {"id": job_id, "role": role}
        if name is not None:
            statement, params = statement + " AND name = :name", {**params, "name": name}
        return {row[0]: bytes(row[1]) for row in self._db.rows(statement, params)}

    # -- claims by id (by service: claims.py) ------------------------------
    def claim(self, job_id: str, worker: str) -> Job | None:
        now = time.time()       # its "started" callback, if it has one, is due from the same commit
        rows = self._write_sql(sql.CLAIM, {"id": job_id, "worker": worker, "now": now},
                               after=((WAKE_STARTED, [{"id": job_id, "now": now}]),))
        if not rows:
            return None
        self._changed(job_id)
        job = job_from_row(rows[0])
        job_claimed(job)
        return job

    def _started(self, job: Job) -> Job:
        """A job ``claim_next`` just claimed (the claim committed): its "started" callback, if it
        has one, is due.  A failure here must not undo the claim in the caller's eyes: the
        callback then goes with the job's end (store/outbox.py)."""
        if has_started_callback(job):
            try:
                self._write_sql(WAKE_STARTED, {"id": job.id, "now": time.time()})
            except StoreError as exc:
                log.warning("job %s: its started callback waits for the job's end: %s", job.id, exc)
        return job

    def heartbeat(self, job_id: str, worker: str) -> bool:
        rows = self._write_sql(sql.HEARTBEAT.format(clock=self.clock), {"id": job_id, "worker": worker,
                                                                         "now": time.time()}, sql.ASYNC_COMMIT)
        return not rows or bool(rows[0][0])   # lost the job, or asked to cancel

    def reap(self, stale_before: float) -> list[Job]:
        stmt = select(jobs).where(jobs.c.status.in_(_ACTIVE),
                                  func.coalesce(jobs.c.heartbeat, 0) < stale_before)
        return self._read(lambda c: [job_from_row(r) for r in c.execute(stmt)])

    # -- housekeeping -----------------------------------------------------
    def expired(self, now: float, limit: int = 500) -> list[str]:
        stmt = (select(jobs.c.id)
                .where(jobs.c.expires <= now, jobs.c.status.in_([s.value for s in TERMINAL]))
                .limit(limit))
        return self._read(lambda c: list(c.execute(stmt).scalars()))

    def remember_dismissed(self, job_id: str, owner: str | None, until: float) -> None:
        def run(c: Connection) -> None:
            c.execute(delete(dismissed_jobs).where(dismissed_jobs.c.id == job_id))
            c.execute(insert(dismissed_jobs), {"id": job_id, "owner": owner, "expires": until})
        self._other_write(run)

    def dismissed(self, job_id: str) -> tuple[bool, str | None]:
        if not storable_id(job_id):
            return False, None
        stmt = select(dismissed_jobs.c.owner).where(dismissed_jobs.c.id == job_id)
        row = self._read(lambda c: c.execute(stmt).first())
        return (True, row[0]) if row is not None else (False, None)

    def forget_dismissed(self, now: float) -> int:
        return self._other_write(lambda c: c.execute(
            delete(dismissed_jobs).where(dismissed_jobs.c.expires <= now)).rowcount)

    def fold_counts(self) -> None:
        """Move the count deltas into ``job_counts`` (counts.py): every count stays the same,
        and the deltas a count must sum stay few."""
        try:
            self._db.fold()
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise store_error(StoreError(f"job store write failed: {exc}"), "write") from exc

    def after_fork(self) -> None:
        """In a forked child: the engine's pooled connections are the parent's, dropped
        unclosed; this store's own connections are made again per process already."""
        self.engine.dispose(close=False)

    def close(self) -> None:
        self._db.close()
        self.engine.dispose()
