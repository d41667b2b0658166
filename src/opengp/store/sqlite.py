"""SQLite specifics of the SQL store: one write connection taking turns on a lock, and a
private read connection per thread, straight on the ``sqlite3`` driver.

SQLite allows one writer at a time.  In local mode the server process is the only writer
(workers report over pipes), and it writes on one connection, taking turns on a lock, so
writers queue here instead of sleeping in SQLite's busy handler; reads use a private
connection per thread (WAL lets them run beside the writer).  SQLAlchemy's per-statement
overhead was most of a job's store cost, hence the raw driver.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from ..core import Conflict, StoreError, StoreUnavailable
from ..system.metrics import store_error
from .counts import fold_sqlite

T = TypeVar("T")
Execute = Callable[[str, dict[str, Any]], list[Any]]
GET_SQL = "SELECT * FROM jobs WHERE id = ?"
# the WAL file grows to hold the largest transaction (a job's 50 MB result); once checkpointed,
# it is cut back to this rather than kept at that size
WAL_LIMIT = "PRAGMA journal_size_limit=16777216"
_DUPLICATE = ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")


def pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Every connection of the store's SQLAlchemy engine (an engine ``connect`` listener)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL fsyncs at checkpoint
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute(WAL_LIMIT)
    cur.close()


class SqliteConnections:
    """The writer (used holding ``lock``, the store's write lock) and each thread's reader,
    on the database file ``path``."""

    def __init__(self, path: str, lock: threading.RLock) -> None:
        self.path, self._lock = path, lock
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute(WAL_LIMIT)
        conn.row_factory = sqlite3.Row
        return conn

    def reader(self) -> sqlite3.Connection:
        """This thread's private read connection (not from the pool, which it would drain)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def writer(self) -> sqlite3.Connection:
        """The write connection (call holding the lock)."""
        if self._writer is None:
            self._writer = self._connect()
        return self._writer

    def get_row(self, job_id: str) -> Any:
        """The status GET hot path: a raw DBAPI read skips ~90 us of Core overhead."""
        try:
            return self.reader().execute(GET_SQL, (job_id,)).fetchone()
        except sqlite3.Error as exc:
            raise store_error(StoreError(f"job store read failed: {exc}"), "read") from exc

    def rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """One read statement on this thread's reader."""
        try:
            return self.reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise store_error(StoreError(f"job store read failed: {exc}"), "read") from exc

    def snapshot(self, fn: Callable[[Execute], T]) -> T:
        """``fn(execute)`` in one read transaction: one snapshot of the file."""
        try:
            conn = self.reader()
            conn.execute("BEGIN")
            try:
                return fn(lambda sql, params: conn.execute(sql, params).fetchall())
            finally:
                conn.execute("COMMIT")
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise store_error(StoreError(f"job store read failed: {exc}"), "read") from exc

    def write(self, sql: str, params: dict[str, Any] | list[dict[str, Any]],
              before: Sequence[tuple[str, dict[str, Any]]] = (),
              after: Sequence[tuple[str, list[dict[str, Any]]]] = ()) -> list[Any]:
        """One transaction (see ``SqlStore._write_sql``; ``before`` is PostgreSQL's only);
        driver errors as StoreUnavailable (busy, locked), Conflict (a unique key) or StoreError."""
        try:
            with self._lock:
                conn = self.writer()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    many = isinstance(params, list)
                    rows = (conn.executemany(sql, params) if many else conn.execute(sql, params)).fetchall()
                    for then, then_params in after if rows else ():
                        conn.executemany(then, then_params)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:        # busy, locked
            raise store_error(StoreUnavailable(f"job store write failed: {exc}"), "write") from exc
        except sqlite3.IntegrityError as exc:
            error = Conflict if getattr(exc, "sqlite_errorname", None) in _DUPLICATE else StoreError
            raise store_error(error(f"job store write failed: {exc}"), "write") from exc
        except (sqlite3.Error, UnicodeError) as exc:    # UnicodeError: text the driver cannot encode
            raise store_error(StoreError(f"job store write failed: {exc}"), "write") from exc
        return rows

    def fold(self) -> None:
        """Fold the count deltas (counts.py) on the writer."""
        with self._lock:
            fold_sqlite(self.writer())

    def close(self) -> None:
        """Close the writer; every thread's reader is forgotten."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self._local = threading.local()
