"""The SQL Store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL.

SQLite allows one writer at a time.  In local mode the server process is the
only writer (workers report over pipes), and it writes on one connection,
taking turns on a lock; reads use a private connection per thread (WAL lets
them run beside the writer).
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
from functools import lru_cache
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, create_engine, delete, event, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..core import Job, Kind, Message, Progress, Status, StoreError, StoreUnavailable, TERMINAL
from ..core.status import QUEUED, RUNNING, check_move
from .base import JobQuery
from .claims import ClaimsMixin
from .tables import dismissed_jobs, jobs, sql_literals
from .rows import dumps, encode_fields, encode_job, job_from_row, results_column, value_rows

if TYPE_CHECKING:
    from .cache import JobCache
    from .notify import JobEvents

T = TypeVar("T")
log = logging.getLogger("opengp.store")
_ACTIVE = tuple(s.value for s in RUNNING)
_QUEUED = tuple(s.value for s in QUEUED)
_GET_SQL = "SELECT * FROM jobs WHERE id = ?"
_GET_PG_SQL = "SELECT * FROM jobs WHERE id = %s"
# text() parses its SQL for bind parameters on every call; the store's statements repeat
_text = lru_cache(maxsize=1024)(text)
_BIND = re.compile(r"(?<![:\w]):(\w+)")


@lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """The store's ``:name`` SQL as psycopg takes it (``%(name)s``)."""
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


class _PgRow(tuple):  # type: ignore[type-arg]
    """A row by position (counts) or by column name (``job_from_row``), as ``sqlite3.Row``."""

    __slots__ = ()
    _names: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        return tuple.__getitem__(self, self._names[key] if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        index = self._names.get(key)
        return default if index is None else tuple.__getitem__(self, index)


@lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[_PgRow]:
    return type("_PgRow", (_PgRow,), {"__slots__": (), "_names": {n: i for i, n in enumerate(names)}})


def _pg_rows(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    """A psycopg row factory: rows as :class:`_PgRow`.  Column names come from the result
    itself: ``cursor.description`` builds an object per column (~30 µs for a job row,
    on every statement)."""
    result = cursor.pgresult
    if result is None or not result.nfields:
        return tuple
    return _row_class(tuple(result.fname(i).decode() for i in range(result.nfields)))


# psycopg connections a forked child inherited: kept referenced, so garbage collection never
# closes the parent's socket from the child
_INHERITED: list[Any] = []
# heartbeats lost in a database crash are harmless: no fsync wait for them on PostgreSQL
_ASYNC_COMMIT = (("SET LOCAL synchronous_commit = off", {}),)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL fsyncs at checkpoint
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute(_WAL_LIMIT)
    cur.close()


# the WAL file grows to hold the largest transaction (a job's 50 MB result); once checkpointed,
# it is cut back to this rather than kept at that size
_WAL_LIMIT = "PRAGMA journal_size_limit=16777216"


_COLUMNS = tuple(c.name for c in jobs.columns)
_INSERT_SQL = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
# Appends a JSON array of new messages to the stored array without reading it first.
_APPEND_MESSAGES = ("CASE WHEN messages IS NULL OR messages = '[]' THEN :new_messages "
                    "ELSE substr(messages, 1, length(messages) - 1) || ',' || substr(:new_messages, 2) END")
_TERMINAL = tuple(s.value for s in TERMINAL)


def _is(column: str, values: Iterable[str]) -> str:
    """``column`` is one of ``values`` (our own enum values), as a row filter.
    Not ``IN (...)``: SQLite builds a temporary table for a list of more than
    two values each time a statement tests one (a claim paid ~20 us for it)."""
    return "(" + " OR ".join(f"{column} = '{v}'" for v in sorted(values)) + ")"


# A finished job is kept for its retention from when it finished, not from when it was made.
_RETENTION_FROM_FINISH = "expires = CASE WHEN expires IS NULL THEN NULL ELSE :finished + (expires - created) END"


@lru_cache(maxsize=512)
def _update_sql(columns: tuple[str, ...], where: str, append_messages: bool, returning: str,
                finishing: bool = False) -> str:
    sets = [f"{c} = :{c}" for c in columns]
    if finishing and "expires" not in columns:
        sets.append(_RETENTION_FROM_FINISH)
    if append_messages:
        sets.append(f"messages = {_APPEND_MESSAGES}")
    return f"UPDATE jobs SET {', '.join(sets)} WHERE {where}" + (f" RETURNING {returning}" if returning else "")


_VALUES_INSERT = ("INSERT INTO job_values (job_id, role, name, value) VALUES (:job_id, :role, :name, :value) "
                  "ON CONFLICT (job_id, role, name) DO UPDATE SET value = excluded.value")
_VALUES_DELETE = "DELETE FROM job_values WHERE job_id = :id"
_VALUES_SQL = "SELECT name, value FROM job_values WHERE job_id = :id AND role = :role"
_CLAIM_SQL = (
    "UPDATE jobs SET status = 'executing', started = :now, updated = :now, worker = :worker, "
    f"heartbeat = :now, attempts = attempts + 1 WHERE id = :id AND {_is('status', _QUEUED)} "
    "AND cancel_requested = false RETURNING *"
)
_HEARTBEAT_SQL = ("UPDATE jobs SET heartbeat = {clock} WHERE id = :id AND worker = :worker "
                  "RETURNING cancel_requested")
_DELETE_SQL = "DELETE FROM jobs WHERE id = :id RETURNING id"
_NOTIFY_SQL = "SELECT pg_notify('opengp_jobs', :id)"       # store/notify.py's CHANNEL; sent at commit

# -- counting ---------------------------------------------------------------
# Triggers (migration 0004) append +1/-1 rows to job_count_deltas as jobs finish
# (or are stored finished) and as finished jobs go; fold_counts() moves their
# sums into job_counts.  So the finished jobs matching a query's service, task,
# kind, status and owner number sum(job_counts) + sum(job_count_deltas), read in
# a few index lookups; unfinished jobs are few and counted through the status
# index; a time filter is applied on top by counting through an index (see
# SqlStore._count).
_COUNT_INSIDE_BELOW = 0.5   # count the jobs in a window spanning less than this share of all, else those outside
_NOT_BY_OWNER = {"owner = :owner": "owner || '' = :owner"}     # the same test, but no index term
_FOLD_EVERY = 1_000         # writes by this store between folds
_FOLD_SEEN = 20_000         # deltas a query summed that make it fold them
_FOLD_LOCK = 0x6F70656E6770  # PostgreSQL advisory lock: one fold at a time
_KEY = "service, kind, task, status, owner"
_FOLD_SQLITE = (
    f"INSERT INTO job_counts ({_KEY}, n) SELECT {_KEY}, sum(n) FROM job_count_deltas WHERE true "
    f"GROUP BY {_KEY} ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + excluded.n",
    "DELETE FROM job_count_deltas",
    "DELETE FROM job_counts WHERE n = 0",
)
_FOLD_POSTGRES = (  # the DELETE takes each committed delta exactly once, even beside other writers
    f"WITH gone AS (DELETE FROM job_count_deltas RETURNING {_KEY}, n) "
    f"INSERT INTO job_counts ({_KEY}, n) SELECT {_KEY}, sum(n) FROM gone GROUP BY {_KEY} "
    f"ON CONFLICT ({_KEY}) DO UPDATE SET n = job_counts.n + excluded.n",
    "DELETE FROM job_counts WHERE n = 0",
)


def _where(conds: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def _one_of(column: str, values: Iterable[str]) -> str:
    """``column = 'v'`` or ``column IN (...)`` for our own enum values (never user input)."""
    values = sorted(values)
    return f"{column} = '{values[0]}'" if len(values) == 1 else f"{column} IN ({sql_literals(values)})"


def _key_conds(q: JobQuery, kinds: Iterable[str] | None = None,
               statuses: Iterable[Status] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Conditions on the counted columns (the same names in jobs and the count
    tables); ``kinds``/``statuses`` narrow the query's own (one branch of it)."""
    conds, params = [], {}
    for name in ("service", "task", "owner"):
        value = getattr(q, name)
        if value is not None:
            conds.append(f"{name} = :{name}")
            params[name] = value
    if kinds is None and q.kind is not None:
        conds.append("kind = :kind")
        params["kind"] = q.kind
    elif kinds is not None:
        conds.append(_one_of("kind", kinds))
    statuses = q.statuses if statuses is None else statuses
    if statuses is not None:
        conds.append(_one_of("status", (s.value for s in statuses)))
    return conds, params


def _jobs_key_branches(q: JobQuery, statuses: Iterable[Status] | None = None) -> list[list[str]]:
    """Key conditions for counting in the jobs table: with a service but any
    kind, one branch per kind, so each is a range of a (service, kind, ...)
    index (given ``kind IN (...)`` SQLite may pick a worse index)."""
    if q.service is not None and q.kind is None:
        return [_key_conds(q, [k.value], statuses)[0] for k in Kind]
    return [_key_conds(q, None, statuses)[0]]


def _time_conds(q: JobQuery) -> list[str]:
    return ([] if q.created_after is None else ["created >= :after"]) + (
        [] if q.created_before is None else ["created <= :before"])


def _filter_conds(q: JobQuery) -> list[str]:
    """Conditions the count tables do not answer: the time window, the machine, several
    processes, run time."""
    conds = _time_conds(q) + ([] if q.machine is None else ["lower(worker) LIKE :machine ESCAPE '\\'"])
    if q.processes is not None:
        pairs = [f"(service = :ps{i} AND task = :pt{i})" for i in range(len(q.processes))]
        conds.append(f"({' OR '.join(pairs)})" if pairs else "1 = 0")
    if q.min_duration is not None or q.max_duration is not None:
        conds.append("started IS NOT NULL")
        run = "(coalesce(finished, :now) - started)"
        if q.min_duration is not None:
            conds.append(f"{run} >= :min_duration")
        if q.max_duration is not None:
            conds.append(f"{run} <= :max_duration")
    return conds


def _counted(q: JobQuery) -> bool:
    """True when the count tables can answer (with the time window applied on top)."""
    return (q.owner != "" and q.machine is None and q.processes is None
            and q.min_duration is None and q.max_duration is None)


def _page_sql(q: JobQuery, postgres: bool) -> str:
    """One page, newest first, every part of it read from an index in created
    order: the query splits into one branch per kind (when it has a service
    but no kind) and per status (when it names several); an IN list would
    make SQLite walk the service's whole created index, or sort every
    matching row."""
    order = "created ASC, id ASC" if q.oldest_first else "created DESC, id DESC"
    if q.limit is not None:
        limit = "LIMIT :limit OFFSET :offset"
    elif q.offset:
        limit = "OFFSET :offset" if postgres else "LIMIT -1 OFFSET :offset"
    else:
        limit = ""
    kinds = [[k.value] for k in Kind] if q.service is not None and q.kind is None else [None]
    statuses = [[s] for s in sorted(q.statuses)] if q.statuses is not None and len(q.statuses) > 1 else [None]
    if len(kinds) * len(statuses) == 1:
        return f"SELECT * FROM jobs{_where(_key_conds(q)[0] + _filter_conds(q))} ORDER BY {order} {limit}"
    top = "" if q.limit is None else f" LIMIT {int(q.offset) + int(q.limit)}"
    branches = [f"SELECT * FROM (SELECT * FROM jobs{_where(_key_conds(q, k, s)[0] + _filter_conds(q))} "
                f"ORDER BY {order}{top}) AS b{i}"
                for i, (k, s) in enumerate((k, s) for k in kinds for s in statuses)]
    return f"{' UNION ALL '.join(branches)} ORDER BY {order} {limit}"


def _pg_count_sql(q: JobQuery) -> str:
    """PostgreSQL: what :meth:`SqlStore._count` computes in several statements, as one
    ``SELECT _total, _summed``.  Inside the ``CASE``, PostgreSQL runs only the count
    the chosen branch names (a scalar subquery is evaluated when first needed)."""
    branches = _jobs_key_branches(q)
    inside = " + ".join(f"(SELECT count(*) FROM jobs{_where(b + _filter_conds(q))})" for b in branches)
    if not _counted(q):
        return f"SELECT {inside} AS _total, 0 AS _summed"
    wanted = frozenset(Status) if q.statuses is None else q.statuses
    parts = []
    if wanted & TERMINAL:
        where = _where(_key_conds(q, None, wanted & TERMINAL)[0])
        parts += [f"(SELECT coalesce(sum(n), 0) FROM job_counts{where})",
                  f"(SELECT coalesce(sum(n), 0) FROM job_count_deltas{where})"]
    if wanted - TERMINAL:
        parts += [f"(SELECT count(*) FROM jobs{_where([_NOT_BY_OWNER.get(c, c) for c in b])})"
                  for b in _jobs_key_branches(q, wanted - TERMINAL)]
    counted = " + ".join(parts) or "0"
    summed = "(SELECT count(*) FROM job_count_deltas)"
    if not _time_conds(q):
        return f"SELECT {counted} AS _total, {summed} AS _summed"
    span = _where(["service = :service", "kind = :kind"] if q.service is not None and q.kind is not None else [])
    start = "oldest" if q.created_after is None else "greatest(:after, oldest)"
    end = "newest" if q.created_before is None else "least(:before, newest)"
    cuts = [cut for cut, value in (("created > :before", q.created_before), ("created < :after", q.created_after))
            if value is not None]
    outside = " + ".join(f"(SELECT count(*) FROM jobs{_where(b + [cut])})" for cut in cuts for b in branches)
    return (f"SELECT CASE WHEN oldest IS NULL THEN 0 WHEN newest > oldest AND ({end} - {start}) / (newest - oldest) "
            f"< {_COUNT_INSIDE_BELOW} THEN {inside} ELSE counted - ({outside}) END AS _total, _summed "
            f"FROM (SELECT {counted} AS counted, {summed} AS _summed, (SELECT min(created) FROM jobs{span}) AS oldest, "
            f"(SELECT max(created) FROM jobs{span}) AS newest OFFSET 0) AS s")


def _pg_query_sql(q: JobQuery) -> str:
    """PostgreSQL: the count and the page in one statement, so one snapshot without a
    transaction, one round trip and one prepared plan: rows of ``_total, _summed, jobs.*``
    (one row of NULL job columns when the page is empty)."""
    count = _pg_count_sql(q)
    if q.limit == 0:
        return count
    order = "p.created ASC, p.id ASC" if q.oldest_first else "p.created DESC, p.id DESC"
    return (f"SELECT c._total, c._summed, p.* FROM ({count} OFFSET 0) AS c "
            f"LEFT JOIN ({_page_sql(q, postgres=True)}) AS p ON true ORDER BY {order}")


class SqlStore(ClaimsMixin):
    """A Store over a SQLAlchemy engine.  ``url`` is any SQLAlchemy URL.

    Writes are plain SQL text (``RETURNING``, string concatenation) that both
    SQLite 3.35+ and PostgreSQL run.  On SQLite they go straight to the
    ``sqlite3`` driver on one connection: SQLAlchemy's per-statement overhead
    was most of a job's store cost, and SQLite has only one writer anyway.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
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
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate:
            from .migrate import upgrade

            upgrade(self.engine)
        self._local = threading.local()
        self._pg_readers: list[Any] = []    # (pid, connection): every thread's raw PostgreSQL reader
        # SQLite has one writer at a time: this process keeps one write
        # connection and takes turns on a lock, so writers queue here instead
        # of sleeping in SQLite's busy handler.
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._writes = 0            # since the last fold of the count deltas
        # scale-out: announces job changes to other processes (store/notify.py); set by whoever opens us
        self.events: JobEvents | None = None
        # scale-out API servers: finished jobs answered from memory (store/cache.py); set with a Listener
        self.cache: JobCache | None = None
        if migrate:
            self.fold_counts()

    # -- plumbing -------------------------------------------------------
    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.engine.url.database or ":memory:", check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(_WAL_LIMIT)
        conn.row_factory = sqlite3.Row
        return conn

    def _write_sql(self, sql: str, params: dict[str, Any] | list[dict[str, Any]],
                   before: Sequence[tuple[str, dict[str, Any]]] = (),
                   after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """Run one write statement in its own transaction; returns its RETURNING rows.
        ``before``: statements run first in the transaction on PostgreSQL only (locks,
        ``SET LOCAL``).  ``after``: statements (each with a list of parameter sets) run in
        the same transaction when the statement returned rows (a compare-and-set that
        won: a job's large values go with its end, or not at all).  Every ``_FOLD_EVERY``
        writes, folds the count deltas they made."""
        many = isinstance(params, list)
        self._writes += len(params) if many else 1
        fold = self._writes >= _FOLD_EVERY
        if fold:
            self._writes = 0
        try:
            if not self.is_sqlite and not many:
                rows = self._pg_write(sql, params, before, after)
            elif not self.is_sqlite:
                with self.engine.begin() as c:
                    for pre, pre_params in before:
                        c.execute(_text(pre), pre_params)
                    res = c.execute(_text(sql), params)
                    rows = res.fetchall() if res.returns_rows else []
                    for then, then_params in after if rows else ():
                        c.execute(_text(then), then_params)
            else:
                with self._write_lock:
                    conn = self._sqlite_writer()
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        rows = (conn.executemany(sql, params) if many else conn.execute(sql, params)).fetchall()
                        for then, then_params in after if rows else ():
                            conn.executemany(then, then_params)
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
        except (sqlite3.OperationalError, OperationalError) as exc:        # busy, locked, unreachable
            raise StoreUnavailable(f"job store write failed: {exc}") from exc
        except (sqlite3.Error, SQLAlchemyError, UnicodeError) as exc:    # UnicodeError: text the driver cannot encode
            raise StoreError(f"job store write failed: {exc}") from exc
        if fold:
            self._fold_quietly()
        return rows

    def _pg_write(self, sql: str, params: dict[str, Any], before: Sequence[tuple[str, dict[str, Any]]],
                  after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """One transaction on this thread's psycopg connection, each statement prepared: a
        job's claim and end are a worker's writes, and SQLAlchemy's pool checkout and Core
        execute path cost more than the statements (design §6.3).

        Until COMMIT is sent nothing is applied, so a failure before it is tried once more on a
        new connection when it may not happen again: the connection had died (the database
        restarted, an idle session was closed: a worker's connection idles for as long as its
        tool runs), or a migration made a prepared plan stale.  A failure at COMMIT is not
        retried: the commit may have happened."""
        import psycopg
        from psycopg import pq

        for attempt in (1, 2):
            committing = False
            try:
                conn = self._pg_reader()
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    # never expected; inside a transaction this one would be a savepoint, never committed
                    self._drop_pg_connection()
                    conn = self._pg_reader()
                with conn.transaction():
                    cur = conn.cursor()         # rows by name and position (the connection's _pg_rows)
                    for pre, pre_params in before:
                        cur.execute(_pg_sql(pre), pre_params, prepare=True)
                    cur.execute(_pg_sql(sql), params, prepare=True)
                    rows = cur.fetchall() if cur.pgresult is not None and cur.pgresult.nfields else []
                    for then, then_params in after if rows else ():
                        cur.executemany(_pg_sql(then), then_params)
                    committing = True
                return rows
            except psycopg.Error as exc:
                self._drop_pg_connection()      # it may be broken: the next call connects afresh
                again = not committing and isinstance(exc, (psycopg.OperationalError, psycopg.errors.FeatureNotSupported))
                if attempt == 2 or not again:
                    error = StoreUnavailable if isinstance(exc, psycopg.OperationalError) else StoreError
                    raise error(f"job store write failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _fold_quietly(self) -> None:
        """Fold now; a failure is logged (the next fold takes these deltas too)."""
        try:
            self.fold_counts()
        except StoreError as exc:
            log.warning("folding job counts failed: %s", exc)

    def _sqlite_writer(self) -> sqlite3.Connection:
        """The write connection (call holding ``_write_lock``)."""
        if self._writer is None:
            self._writer = self._sqlite_connect()
        return self._writer

    def fold_counts(self) -> None:
        """Move the count deltas into ``job_counts``: every count stays the same,
        and the deltas a count must sum stay few."""
        try:
            if not self.is_sqlite:
                self._fold_postgres()
                return
            with self._write_lock:
                self._fold_sqlite(self._sqlite_writer())
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise StoreError(f"job store write failed: {exc}") from exc

    @staticmethod
    def _fold_sqlite(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in _FOLD_SQLITE:
                conn.execute(sql)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _fold_postgres(self) -> None:
        with self.engine.begin() as c:
            if c.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK}).scalar():
                for sql in _FOLD_POSTGRES:      # else another process is folding right now
                    c.execute(text(sql))

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"job store read failed: {exc}") from exc

    # -- Store protocol -------------------------------------------------
    def create(self, job: Job) -> None:
        row, values = encode_job(job)
        if values:      # with its large values, in the same transaction
            self._write_sql(_INSERT_SQL + " RETURNING id", row, after=((_VALUES_INSERT, values),))
        else:
            self._write_sql(_INSERT_SQL, row)

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
                self._write_sql(_INSERT_SQL, batch)
                batch = []
        if batch:
            self._write_sql(_INSERT_SQL, batch)

    def get(self, job_id: str) -> Job | None:
        return self._cached_get(job_id, live=False)

    def peek(self, job_id: str) -> Job | None:
        """``get`` for display (status polls): on a scale-out API server an unfinished job may
        come from the cache, as of at most the notification delay ago (store/cache.py)."""
        return self._cached_get(job_id, live=True)

    def _cached_get(self, job_id: str, live: bool) -> Job | None:
        if self.is_sqlite:  # the status GET hot path: a raw DBAPI read skips ~90 us of Core overhead
            return self._get_raw(job_id)
        cache = self.cache
        if cache is None:
            return self._get_pg(job_id)
        job = cache.get(job_id, live)
        if job is None:
            token = cache.token()
            job = self._get_pg(job_id)
            if job is not None:
                cache.put(job, token)
        return job

    def _get_pg(self, job_id: str) -> Job | None:
        """One prepared autocommit SELECT on this thread's own psycopg connection: no pool
        checkout, no Core compilation, no rollback round trip (design §6.3)."""
        row = self._pg_read(lambda conn: conn.execute(_GET_PG_SQL, (job_id,), prepare=True).fetchone())
        return None if row is None else job_from_row(row)

    def _pg_read(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)`` on this thread's psycopg reader.  On an error the connection is
        replaced (it may be broken, or its prepared plans stale after a migration) and ``fn``
        tried once more: it must only read."""
        import psycopg

        for attempt in (1, 2):
            try:
                return fn(self._pg_reader())
            except psycopg.Error as exc:
                self._drop_pg_connection()
                if attempt == 2:
                    raise StoreError(f"job store read failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _drop_pg_connection(self) -> None:
        """Close and forget this thread's psycopg connection (broken, or its plans stale)."""
        got, self._local.pg = getattr(self._local, "pg", None), None
        if got is not None:
            got[1].close()
            with self._write_lock:      # forgotten, so a flapping database leaves no pile-up
                self._pg_readers = [r for r in self._pg_readers if r[1] is not got[1]]

    def _pg_reader(self) -> Any:
        got = getattr(self._local, "pg", None)
        if got is not None:
            if got[0] == os.getpid():
                return got[1]
            _INHERITED.append(got[1])       # made before a fork: the parent's, never ours to use
            self._local.pg = None
        import psycopg

        from .notify import libpq_url

        conn = psycopg.connect(libpq_url(self.url), autocommit=True, row_factory=_pg_rows, connect_timeout=10)
        self._local.pg = (os.getpid(), conn)
        with self._write_lock:
            self._pg_readers.append((os.getpid(), conn))
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's private read connection (not from the pool, which it would drain)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._sqlite_connect()
        return conn

    def _get_raw(self, job_id: str) -> Job | None:
        conn = self._reader()
        try:
            row = conn.execute(_GET_SQL, (job_id,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"job store read failed: {exc}") from exc
        return None if row is None else job_from_row(row)

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        """The total and the page come from one snapshot of the store."""
        if (q.statuses is not None and not q.statuses) or (
                q.created_after is not None and q.created_before is not None and q.created_after > q.created_before):
            return 0, []
        params = _key_conds(q)[1]
        params.update(after=q.created_after, before=q.created_before, offset=q.offset, limit=q.limit)
        for i, (service, task) in enumerate(q.processes or ()):
            params[f"ps{i}"], params[f"pt{i}"] = service, task
        params.update(now=time.time(), min_duration=q.min_duration, max_duration=q.max_duration)
        if q.machine is not None:
            escaped = q.machine.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["machine"] = escaped + ":%"
        if not self.is_sqlite:
            rows = self._pg_read(lambda conn: conn.execute(_pg_sql(_pg_query_sql(q)), params, prepare=True).fetchall())
            total, deltas = rows[0]["_total"], rows[0]["_summed"]     # rows by name (the reader's row factory)
            page_jobs = [job_from_row(r) for r in rows if r.get("id") is not None]
        else:
            total, deltas, page_jobs = self._snapshot(self._query_run(q, params))
        if deltas > _FOLD_SEEN:
            self._fold_quietly()
        return int(total), page_jobs        # PostgreSQL's sum(bigint) is numeric: a Decimal

    def _query_run(self, q: JobQuery, params: dict[str, Any]) -> Callable[..., tuple[int, int, list[Job]]]:
        """The SQLite query: count, then page, as ``_snapshot`` runs them."""
        page = _page_sql(q, postgres=False)

        def run(execute: Callable[[str, dict[str, Any]], list[Any]]) -> tuple[int, int, list[Job]]:
            total, deltas = self._count(execute, q, params)
            rows = execute(page, params) if q.limit != 0 else []
            return total, deltas, [job_from_row(r) for r in rows]

        return run

    @staticmethod
    def _count(execute: Callable[[str, dict[str, Any]], list[Any]], q: JobQuery,
               params: dict[str, Any]) -> tuple[int, int]:
        """``(jobs matching q, count deltas summed)``.

        Finished jobs matching all but the time filter are summed from the
        count tables; unfinished ones are few and counted through the status
        index.  A time filter is then applied by counting, through an index,
        whichever looks smaller: the jobs inside the window, or those outside
        it (subtracted).  Which is smaller is guessed from where the window
        falls between the oldest and newest job; all reads share one
        snapshot, so either way the count is exact.
        """
        branches = _jobs_key_branches(q)
        time_conds = _time_conds(q)
        inside = " + ".join(f"(SELECT count(*) FROM jobs{_where(b + _filter_conds(q))})" for b in branches)
        if not _counted(q):         # not in the count tables: count the jobs
            return execute(f"SELECT {inside}", params)[0][0], 0
        wanted = frozenset(Status) if q.statuses is None else q.statuses
        parts = ["(SELECT count(*) FROM job_count_deltas)"]
        if wanted & TERMINAL:
            where = _where(_key_conds(q, None, wanted & TERMINAL)[0])
            parts += [f"(SELECT coalesce(sum(n), 0) FROM job_counts{where})",
                      f"(SELECT coalesce(sum(n), 0) FROM job_count_deltas{where})"]
        if wanted - TERMINAL:   # through the status index, never the owner's (SQLite may think it better)
            parts += [f"(SELECT count(*) FROM jobs{_where([_NOT_BY_OWNER.get(c, c) for c in b])})"
                      for b in _jobs_key_branches(q, wanted - TERMINAL)]
        if time_conds:
            span = _where(["service = :service", "kind = :kind"] if q.service is not None and q.kind is not None
                          else [])
            parts += [f"(SELECT min(created) FROM jobs{span})", f"(SELECT max(created) FROM jobs{span})"]
        summed, *values = execute(f"SELECT {', '.join(parts)}", params)[0]
        if not time_conds:
            return sum(values), summed
        *counts, oldest, newest = values
        total = sum(counts)
        if oldest is None:
            return 0, summed
        start = oldest if q.created_after is None else max(q.created_after, oldest)
        end = newest if q.created_before is None else min(q.created_before, newest)
        if newest > oldest and (end - start) / (newest - oldest) < _COUNT_INSIDE_BELOW:
            return execute(f"SELECT {inside}", params)[0][0], summed
        cuts = [cut for cut, value in (("created > :before", q.created_before), ("created < :after", q.created_after))
                if value is not None]
        outside = " + ".join(f"(SELECT count(*) FROM jobs{_where(b + [cut])})" for cut in cuts for b in branches)
        return total - execute(f"SELECT {outside}", params)[0][0], summed

    def _snapshot(self, fn: Callable[[Callable[[str, dict[str, Any]], list[Any]]], T]) -> T:
        """Run ``fn(execute)`` in one read transaction (one snapshot on both databases).

        On PostgreSQL: a REPEATABLE READ READ ONLY transaction on this thread's psycopg
        reader, each statement prepared (the count statement alone took ~1 ms to plan)."""
        if not self.is_sqlite:
            return self._pg_read(lambda conn: self._pg_snapshot(conn, fn))
        try:
            conn = self._reader()
            conn.execute("BEGIN")
            try:
                return fn(lambda sql, params: conn.execute(sql, params).fetchall())
            finally:
                conn.execute("COMMIT")
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise StoreError(f"job store read failed: {exc}") from exc

    @staticmethod
    def _pg_snapshot(conn: Any, fn: Callable[[Callable[[str, dict[str, Any]], list[Any]]], T]) -> T:
        cur = conn.cursor()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            out = fn(lambda sql, params: cur.execute(_pg_sql(sql), params, prepare=True).fetchall())
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return out

    def _update(self, job_id: str, values: dict[str, Any], where: str, messages: Sequence[Message],
                returning: str = "*", before: Sequence[tuple[str, dict[str, Any]]] = (),
                extra: dict[str, Any] | None = None,
                after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """``extra``: parameters of ``where`` (``values`` are the columns set)."""
        sql = _update_sql(tuple(values), f"id = :id AND {where}", bool(messages), returning,
                          values.get("finished") is not None)
        params = {**values, **(extra or {}), "id": job_id}
        if messages:
            params["new_messages"] = dumps([m.to_json() for m in messages])
        return self._write_sql(sql, params, before, after)

    def transition(self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any) -> Job | None:
        src = tuple(src)
        check_move(src, dst)
        messages = fields.pop("messages", ())
        if_worker = fields.pop("if_worker", None)
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
        announce = ((_NOTIFY_SQL, {"id": job_id}),) if cancel else ()
        where, extra = _is("status", (s.value for s in src)), {}
        if if_worker is not None:
            where, extra = where + " AND worker = :if_worker", {"if_worker": if_worker}
        after = ((_VALUES_INSERT, value_rows(job_id, large)),) if large else ()
        rows = self._update(job_id, values, where, messages, before=announce, extra=extra, after=after)
        if not rows:
            return None
        self._changed(job_id)
        return job_from_row(rows[0])

    def report(self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None) -> None:
        values: dict[str, Any] = {"updated": time.time()}
        if progress is not None:
            values["progress"] = dumps(progress.to_json())
        self._update(job_id, values, f"NOT {_is('status', _TERMINAL)}", messages, returning="")
        self._changed(job_id)

    def claim(self, job_id: str, worker: str) -> Job | None:
        rows = self._write_sql(_CLAIM_SQL, {"id": job_id, "worker": worker, "now": time.time()})
        if not rows:
            return None
        self._changed(job_id)
        return job_from_row(rows[0])

    def _changed(self, job_id: str) -> None:
        """A committed write changed (or deleted) the job: forget it here, announce it to other
        processes (scale-out only)."""
        if self.cache is not None:
            self.cache.invalidate((job_id,))
        if self.events is not None:
            self.events.changed(job_id)

    def heartbeat(self, job_id: str, worker: str) -> bool:
        rows = self._write_sql(_HEARTBEAT_SQL.format(clock=self.clock), {"id": job_id, "worker": worker,
                                                                          "now": time.time()}, _ASYNC_COMMIT)
        return not rows or bool(rows[0][0])   # lost the job, or asked to cancel

    def reap(self, stale_before: float) -> list[Job]:
        stmt = select(jobs).where(jobs.c.status.in_(_ACTIVE),
                                  func.coalesce(jobs.c.heartbeat, 0) < stale_before)
        return self._read(lambda c: [job_from_row(r) for r in c.execute(stmt)])

    def delete(self, job_id: str) -> bool:
        # Other API servers may hold the job in their caches.  Its NOTIFY goes in the delete's own
        # transaction: PostgreSQL delivers it with the commit, before this call returns, so a client
        # told "deleted" that asks another server next finds that server already told.
        announce = () if self.events is None else ((_NOTIFY_SQL, {"id": job_id}),)
        gone = bool(self._write_sql(_DELETE_SQL, {"id": job_id}, before=announce,
                                    after=((_VALUES_DELETE, [{"id": job_id}]),)))
        if gone and self.cache is not None:
            self.cache.invalidate((job_id,))
        return gone

    def values(self, job_id: str, role: str, name: str | None = None) -> dict[str, bytes]:
        """The job's large values of ``role`` (one, with ``name``): ``{name: JSON bytes}``."""
        sql, params = _VALUES_SQL, {"id": job_id, "role": role}
        if name is not None:
            sql, params = sql + " AND name = :name", {**params, "name": name}
        if not self.is_sqlite:
            rows = self._pg_read(lambda conn: conn.execute(_pg_sql(sql), params, prepare=True).fetchall())
        else:
            try:
                rows = self._reader().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"job store read failed: {exc}") from exc
        return {row[0]: bytes(row[1]) for row in rows}

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
        stmt = select(dismissed_jobs.c.owner).where(dismissed_jobs.c.id == job_id)
        row = self._read(lambda c: c.execute(stmt).first())
        return (True, row[0]) if row is not None else (False, None)

    def forget_dismissed(self, now: float) -> int:
        return self._other_write(lambda c: c.execute(
            delete(dismissed_jobs).where(dismissed_jobs.c.expires <= now)).rowcount)

    def _other_write(self, fn: Callable[[Connection], T]) -> T:
        """A write to a table beside the jobs (taking the writer's turn on SQLite)."""
        try:
            with self._write_lock, self.engine.begin() as c:
                return fn(c)
        except SQLAlchemyError as exc:
            raise StoreError(f"job store write failed: {exc}") from exc

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            readers, self._pg_readers = self._pg_readers, []
        for pid, conn in readers:
            if pid == os.getpid():
                conn.close()
            else:                               # a forked child closing: the parent's sockets
                _INHERITED.append(conn)
        self._local = threading.local()
        self.engine.dispose()
