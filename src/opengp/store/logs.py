"""The server log kept in the store: every API server's and worker's records at
``log_store_level`` and above (``system/logqueue.BatchHandler`` writes them in batches),
bounded by a row cap and an age (``trim``, run by the periodic purge and after large batches),
read by the admin API's ``logs/query`` (``jobs/logs.py``).

One table on the job store's database, so the log of a scale-out deployment is one log:
whichever API server is asked sees every server's and worker's lines.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Engine

from .engine import run
from .tables import logs


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One kept line (the columns of ``tables.logs``)."""

    id: int
    time: int                   # epoch milliseconds
    level: int                  # a Python level
    logger: str
    message: str
    machine: str
    process: int
    thread: str
    method: str
    job_id: str | None = None
    request_id: str | None = None
    service: str | None = None
    username: str | None = None


_COLUMNS = tuple(f.name for f in fields(LogRecord) if f.name != "id")


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which lines: at ``level`` or above, timed within ``[oldest, newest]`` (ms, both inclusive,
    None: unbounded), matching every non-empty list; newest first, at most ``limit`` (None: all)."""

    level: int = 30
    newest: int | None = None
    oldest: int | None = None
    services: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    processes: tuple[int, ...] = ()
    job_ids: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    limit: int | None = 1000

    def matches(self, r: LogRecord) -> bool:
        """The same filter in Python (the in-memory store)."""
        return (r.level >= self.level and (self.newest is None or r.time <= self.newest)
                and (self.oldest is None or r.time >= self.oldest)
                and all(not wanted or value in wanted for wanted, value in (
                    (self.services, r.service), (self.machines, r.machine), (self.processes, r.process),
                    (self.job_ids, r.job_id), (self.request_ids, r.request_id))))


class LogStore(Protocol):
    def add(self, rows: list[dict[str, Any]]) -> None:
        """Keep these lines (``logqueue.record_row``'s dicts), in one transaction."""

    def query(self, q: LogQuery) -> list[LogRecord]:
        """The lines ``q`` asks for, newest first (ties: the later written first)."""

    def trim(self, max_rows: int, max_age: float) -> int:
        """Forget lines older than ``max_age`` seconds, then all but the newest ``max_rows``;
        returns how many went."""

    def clear(self) -> int:
        """Forget every line (``logs/clean``)."""


# each text column's width (None: unbounded), read from the table itself
_WIDTHS: dict[str, int | None] = {c.name: getattr(c.type, "length", None) for c in logs.columns}


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A line as its columns can hold it: every text without NUL (PostgreSQL's text cannot hold
    one) and cut to its column's width (PostgreSQL refuses a longer value).  A line is anything
    a logger was given (a thread's name, a client's request id): one odd line must not fail the
    batch written with it."""
    return {name: _fit(row.get(name), _WIDTHS[name]) for name in _COLUMNS}


def _fit(value: Any, width: int | None) -> Any:
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value if width is None else value[:width]


class SqlLogStore:
    """The log on the job store's engine.  ``writer``: SQLite's one writer's lock (the job
    store's), so these writes queue behind job writes instead of fighting them for the file."""

    def __init__(self, engine: Engine, writer: Any = None) -> None:
        self.engine, self._writer = engine, writer

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="log", writer=self._writer)

    def add(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            values = [_row(r) for r in rows]
            self._run(lambda c: c.execute(insert(logs), values), write=True)

    def query(self, q: LogQuery) -> list[LogRecord]:
        stmt = select(logs).where(logs.c.level >= q.level)
        if q.newest is not None:
            stmt = stmt.where(logs.c.time <= q.newest)
        if q.oldest is not None:
            stmt = stmt.where(logs.c.time >= q.oldest)
        for column, wanted in ((logs.c.service, q.services), (logs.c.machine, q.machines),
                               (logs.c.process, q.processes), (logs.c.job_id, q.job_ids),
                               (logs.c.request_id, q.request_ids)):
            if wanted:
                stmt = stmt.where(column.in_(wanted))
        stmt = stmt.order_by(logs.c.time.desc(), logs.c.id.desc())
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        return self._run(lambda c: [LogRecord(**r._mapping) for r in c.execute(stmt)])

    def trim(self, max_rows: int, max_age: float) -> int:
        cutoff = int((time.time() - max_age) * 1000)
        # all but the newest max_rows: by id, the order they were written in
        beyond = text("DELETE FROM logs WHERE id <= (SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET :n)")

        def trim(c: Any) -> int:
            old = c.execute(delete(logs).where(logs.c.time < cutoff)).rowcount
            return old + c.execute(beyond, {"n": max_rows}).rowcount
        return self._run(trim, write=True)

    def clear(self) -> int:
        return self._run(lambda c: c.execute(delete(logs)).rowcount, write=True)

    def count(self) -> int:
        return self._run(lambda c: c.execute(select(func.count()).select_from(logs)).scalar_one())


class MemoryLogStore:
    """The log in memory (the in-memory job store's)."""

    def __init__(self) -> None:
        self._records: list[LogRecord] = []
        self._next = 1
        self._lock = threading.Lock()

    def add(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._records.append(LogRecord(id=self._next, **_row(row)))
                self._next += 1

    def query(self, q: LogQuery) -> list[LogRecord]:
        with self._lock:
            found = sorted((r for r in self._records if q.matches(r)), key=lambda r: (-r.time, -r.id))
        return found if q.limit is None else found[:q.limit]

    def trim(self, max_rows: int, max_age: float) -> int:
        cutoff = int((time.time() - max_age) * 1000)
        with self._lock:
            before = len(self._records)
            kept = [r for r in self._records if r.time >= cutoff]
            self._records = kept[len(kept) - max_rows:] if len(kept) > max_rows else kept
            return before - len(self._records)

    def clear(self) -> int:
        with self._lock:
            n, self._records = len(self._records), []
            return n

    def count(self) -> int:
        with self._lock:
            return len(self._records)


class CappedWriter:
    """A ``BatchHandler``'s sink that keeps the log within its bounds as it writes: after every
    ``TRIM_EVERY`` rows (or ``max_rows``, if fewer) it trims, so a flood is cut at once and not
    only at the next periodic purge."""

    TRIM_EVERY = 1000

    def __init__(self, store: LogStore, max_rows: int, max_days: float) -> None:
        self.store, self.max_rows, self.max_age = store, max_rows, max_days * 86400
        self._since_trim = 0

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        self.store.add(rows)
        self._since_trim += len(rows)
        if self._since_trim >= min(self.TRIM_EVERY, self.max_rows):
            self._since_trim = 0
            self.trim()

    def trim(self) -> int:
        return self.store.trim(self.max_rows, self.max_age)


def open_log_store(job_store: Any) -> LogStore:
    """The log beside a job store: SQL on its engine (taking SQLite's writer's turn), or the
    in-memory store's own."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        return job_store.logs
    return SqlLogStore(engine, job_store.writer())
