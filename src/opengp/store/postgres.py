"""PostgreSQL specifics of the SQL store: each thread's own psycopg connection, statements
prepared, and the query as one statement.

A job's claim and end are a worker's writes, and a status GET is one read: SQLAlchemy's pool
checkout and Core execute path cost more than the statements (design §6.3), so these go
straight to psycopg.  The rare writes of many rows go through the engine.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..core import Conflict, StoreError, StoreUnavailable
from ..system.metrics import store_error
from .base import JobQuery
from .counts import FOLD_LOCK, FOLD_POSTGRES, pg_count_sql
from .queries import page_sql
from .tables import storable_id

T = TypeVar("T")
Execute = Callable[[str, dict[str, Any]], list[Any]]
GET_SQL = "SELECT * FROM jobs WHERE id = %s"
# text() parses its SQL for bind parameters on every call; the store's statements repeat
_text = lru_cache(maxsize=1024)(text)
_BIND = re.compile(r"(?<![:\w]):(\w+)")
# psycopg connections a forked child inherited: kept referenced, so garbage collection never
# closes the parent's socket from the child
_INHERITED: list[Any] = []


@lru_cache(maxsize=1024)
def pg_sql(sql: str) -> str:
    """The store's ``:name`` SQL as psycopg takes it (``%(name)s``)."""
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def query_sql(q: JobQuery) -> str:
    """The count and the page in one statement, so one snapshot without a transaction, one
    round trip and one prepared plan: rows of ``_total, _summed, jobs.*`` (one row of NULL
    job columns when the page is empty)."""
    count = pg_count_sql(q)
    if q.limit == 0:
        return count
    order = "p.created ASC, p.id ASC" if q.oldest_first else "p.created DESC, p.id DESC"
    return (f"SELECT c._total, c._summed, p.* FROM ({count} OFFSET 0) AS c "
            f"LEFT JOIN ({page_sql(q, postgres=True)}) AS p ON true ORDER BY {order}")


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


def _refused(exc: BaseException) -> type[StoreError] | type[Conflict]:
    """A unique key refused the write (a job id taken): Conflict; any other refusal: StoreError."""
    return Conflict if getattr(getattr(exc, "orig", exc), "sqlstate", None) == "23505" else StoreError


class PgConnections:
    """Each thread's own autocommit psycopg connection (made again after a fork: a child never
    uses its parent's), and the engine for writes of many rows.  ``lock`` guards the list of
    every thread's connection (the store's write lock)."""

    def __init__(self, url: str, engine: Engine, lock: threading.RLock) -> None:
        self.url, self.engine, self._lock = url, engine, lock
        self._local = threading.local()
        self._all: list[Any] = []       # (pid, connection): every thread's

    def connection(self) -> Any:
        """This thread's connection (connected on first use)."""
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
        with self._lock:
            self._all.append((os.getpid(), conn))
        return conn

    def drop(self) -> None:
        """Close and forget this thread's connection (broken, or its plans stale)."""
        got, self._local.pg = getattr(self._local, "pg", None), None
        if got is not None:
            got[1].close()
            with self._lock:      # forgotten, so a flapping database leaves no pile-up
                self._all = [r for r in self._all if r[1] is not got[1]]

    def read(self, fn: Callable[[Any], T]) -> T:
        """``fn(connection)`` on this thread's connection.  On an error the connection is
        replaced (it may be broken, or its prepared plans stale after a migration) and ``fn``
        tried once more: it must only read."""
        import psycopg

        for attempt in (1, 2):
            try:
                return fn(self.connection())
            except psycopg.Error as exc:
                self.drop()
                if attempt == 2:
                    raise store_error(StoreError(f"job store read failed: {exc}"), "read") from exc
        raise AssertionError("unreachable")

    def get_row(self, job_id: str) -> Any:
        """One prepared autocommit SELECT: no pool checkout, no Core compilation, no rollback
        round trip (design §6.3).  An id no job can have (``tables.storable_id``) is unknown."""
        if not storable_id(job_id):
            return None
        return self.read(lambda conn: conn.execute(GET_SQL, (job_id,), prepare=True).fetchone())

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """One read statement (the store's ``:name`` SQL), prepared."""
        return self.read(lambda conn: conn.execute(pg_sql(sql), params, prepare=True).fetchall())

    def query(self, q: JobQuery, params: dict[str, Any]) -> list[Any]:
        """Rows of ``_total, _summed, jobs.*`` (:func:`query_sql`), by name."""
        return self.rows(query_sql(q), params)

    def snapshot(self, fn: Callable[[Execute], T]) -> T:
        """``fn(execute)`` in a REPEATABLE READ READ ONLY transaction on this thread's
        connection, each statement prepared (the count statement alone took ~1 ms to plan)."""
        return self.read(lambda conn: self._snapshot(conn, fn))

    @staticmethod
    def _snapshot(conn: Any, fn: Callable[[Execute], T]) -> T:
        cur = conn.cursor()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            out = fn(lambda sql, params: cur.execute(pg_sql(sql), params, prepare=True).fetchall())
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return out

    def write(self, sql: str, params: dict[str, Any] | list[dict[str, Any]],
              before: Sequence[tuple[str, dict[str, Any]]] = (),
              after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """One transaction (see ``SqlStore._write_sql``); driver errors as StoreUnavailable
        (unreachable, busy), Conflict (a unique key) or StoreError."""
        try:
            if not isinstance(params, list):
                return self._write_one(sql, params, before, after)
            with self.engine.begin() as c:
                for pre, pre_params in before:
                    c.execute(_text(pre), pre_params)
                res = c.execute(_text(sql), params)
                rows = res.fetchall() if res.returns_rows else []
                for then, then_params in after if rows else ():
                    c.execute(_text(then), then_params)
                return rows
        except OperationalError as exc:
            raise store_error(StoreUnavailable(f"job store write failed: {exc}"), "write") from exc
        except IntegrityError as exc:
            raise store_error(_refused(exc)(f"job store write failed: {exc}"), "write") from exc
        except (SQLAlchemyError, UnicodeError) as exc:    # UnicodeError: text the driver cannot encode
            raise store_error(StoreError(f"job store write failed: {exc}"), "write") from exc

    def _write_one(self, sql: str, params: dict[str, Any], before: Sequence[tuple[str, dict[str, Any]]],
                   after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """One transaction on this thread's connection, each statement prepared.

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
                conn = self.connection()
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    # never expected; inside a transaction this one would be a savepoint, never committed
                    self.drop()
                    conn = self.connection()
                with conn.transaction():
                    cur = conn.cursor()         # rows by name and position (the connection's _pg_rows)
                    for pre, pre_params in before:
                        cur.execute(pg_sql(pre), pre_params, prepare=True)
                    cur.execute(pg_sql(sql), params, prepare=True)
                    rows = cur.fetchall() if cur.pgresult is not None and cur.pgresult.nfields else []
                    for then, then_params in after if rows else ():
                        cur.executemany(pg_sql(then), then_params)
                    committing = True
                return rows
            except psycopg.Error as exc:
                self.drop()      # it may be broken: the next call connects afresh
                again = not committing and isinstance(exc, (psycopg.OperationalError, psycopg.errors.FeatureNotSupported))
                if attempt == 2 or not again:
                    error = StoreUnavailable if isinstance(exc, psycopg.OperationalError) else _refused(exc)
                    raise store_error(error(f"job store write failed: {exc}"), "write") from exc
        raise AssertionError("unreachable")

    def fold(self) -> None:
        """Fold the count deltas (counts.py), unless another process is folding right now."""
        with self.engine.begin() as c:
            if c.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FOLD_LOCK}).scalar():
                for sql in FOLD_POSTGRES:
                    c.execute(text(sql))

    def close(self) -> None:
        """Close every thread's connection made in this process (a forked child's inherited
        ones are kept, unused: they are the parent's)."""
        with self._lock:
            connections, self._all = self._all, []
        for pid, conn in connections:
            if pid == os.getpid():
                conn.close()
            else:
                _INHERITED.append(conn)
        self._local = threading.local()
