"""The SQL Store: SQLAlchemy Core over SQLite (WAL) or PostgreSQL.

SQLite allows one writer at a time.  In local mode the server process is the
only writer (workers report over pipes), and it writes on one connection,
taking turns on a lock; reads use a private connection per thread (WAL lets
them run beside the writer).
"""
from __future__ import annotations

import sqlite3
import threading
from functools import lru_cache
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, create_engine, event, func, select, text
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from ..core import Job, Kind, Message, Progress, Status, StoreError, TERMINAL
from ..core.status import QUEUED
from .base import JobQuery
from .tables import jobs

T = TypeVar("T")
_JSON_COLUMNS = ("progress", "inputs", "options", "results")
_ACTIVE = (Status.EXECUTING.value, Status.CANCELLING.value)
_QUEUED = tuple(s.value for s in QUEUED)
_GET_SQL = "SELECT * FROM jobs WHERE id = ?"


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def job_to_row(job: Job) -> dict[str, Any]:
    """Column values for one job."""
    return {
        "id": job.id, "kind": job.kind.value, "service": job.service, "task": job.task,
        "status": job.status.value, "owner": job.owner, "created": job.created,
        "updated": job.updated, "started": job.started, "finished": job.finished,
        "progress": _dumps(job.progress.to_json()),
        "messages": _dumps([m.to_json() for m in job.messages]),
        "inputs": _dumps(job.inputs), "options": _dumps(job.options),
        "results": _dumps(job.results), "error": job.error, "request_id": job.request_id,
        "operation_uri": job.operation_uri, "attempts": job.attempts, "worker": job.worker,
        "heartbeat": job.heartbeat, "cancel_requested": job.cancel_requested,
        "expires": job.expires,
    }


def job_from_row(row: Row | sqlite3.Row | dict[str, Any]) -> Job:
    m = row._mapping if isinstance(row, Row) else row
    loads = orjson.loads
    return Job(
        id=m["id"], kind=Kind(m["kind"]), service=m["service"], task=m["task"],
        status=Status(m["status"]), created=m["created"], updated=m["updated"],
        owner=m["owner"], started=m["started"], finished=m["finished"],
        progress=Progress.from_json(loads(m["progress"]) if m["progress"] else None),
        messages=tuple(Message.from_json(x) for x in loads(m["messages"] or "[]")),
        inputs=loads(m["inputs"]) if m["inputs"] else {},
        options=loads(m["options"]) if m["options"] else {},
        results=loads(m["results"]) if m["results"] else None,
        error=m["error"], request_id=m["request_id"], operation_uri=m["operation_uri"],
        attempts=m["attempts"] or 0, worker=m["worker"], heartbeat=m["heartbeat"],
        cancel_requested=bool(m["cancel_requested"]), expires=m["expires"],
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes; WAL fsyncs at checkpoint
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir).resolve() / 'opengp.db'}"


_COLUMNS = tuple(c.name for c in jobs.columns)
_INSERT_SQL = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
# Appends a JSON array of new messages to the stored array without reading it first.
_APPEND_MESSAGES = ("CASE WHEN messages IS NULL OR messages = '[]' THEN :new_messages "
                    "ELSE substr(messages, 1, length(messages) - 1) || ',' || substr(:new_messages, 2) END")
_TERMINAL = tuple(s.value for s in TERMINAL)


def _in(values: Iterable[str]) -> str:
    """A SQL list of status literals (our own enum values, never user input)."""
    return ", ".join(f"'{v}'" for v in values)


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


_CLAIM_SQL = (
    "UPDATE jobs SET status = 'executing', started = :now, updated = :now, worker = :worker, "
    f"heartbeat = :now, attempts = attempts + 1 WHERE id = :id AND status IN ({_in(_QUEUED)}) "
    "AND cancel_requested = false RETURNING *"
)
_HEARTBEAT_SQL = "UPDATE jobs SET heartbeat = :now WHERE id = :id AND worker = :worker RETURNING cancel_requested"
_DELETE_SQL = "DELETE FROM jobs WHERE id = :id RETURNING id"


class SqlStore:
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
        # SQLite has one writer at a time: this process keeps one write
        # connection and takes turns on a lock, so writers queue here instead
        # of sleeping in SQLite's busy handler.
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None

    # -- plumbing -------------------------------------------------------
    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.engine.url.database or ":memory:", check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        return conn

    def _write_sql(self, sql: str, params: dict[str, Any] | list[dict[str, Any]]) -> list[Any]:
        """Run one write statement in its own transaction; returns its RETURNING rows."""
        many = isinstance(params, list)
        try:
            if not self.is_sqlite:
                with self.engine.begin() as c:
                    res = c.execute(text(sql), params)
                    return res.fetchall() if res.returns_rows else []
            with self._write_lock:
                if self._writer is None:
                    self._writer = self._sqlite_connect()
                conn = self._writer
                conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = conn.executemany(sql, params).fetchall() if many else conn.execute(sql, params).fetchall()
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return rows
        except (sqlite3.Error, SQLAlchemyError) as exc:
            raise StoreError(f"job store write failed: {exc}") from exc

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"job store read failed: {exc}") from exc

    # -- Store protocol -------------------------------------------------
    def create(self, job: Job) -> None:
        self._write_sql(_INSERT_SQL, job_to_row(job))

    def insert_many(self, many: Iterable[Job], chunk: int = 5000) -> None:
        """Bulk insert (benchmarks and imports); one transaction per chunk."""
        batch: list[dict[str, Any]] = []
        for job in many:
            batch.append(job_to_row(job))
            if len(batch) >= chunk:
                self._write_sql(_INSERT_SQL, batch)
                batch = []
        if batch:
            self._write_sql(_INSERT_SQL, batch)

    def get(self, job_id: str) -> Job | None:
        if self.is_sqlite:  # the status GET hot path: a raw DBAPI read skips ~90 us of Core overhead
            return self._get_raw(job_id)
        stmt = select(jobs).where(jobs.c.id == job_id)
        row = self._read(lambda c: c.execute(stmt).first())
        return None if row is None else job_from_row(row)

    def _get_raw(self, job_id: str) -> Job | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # a private connection per thread (not from the pool, which it would drain)
            conn = self._local.conn = self._sqlite_connect()
        try:
            row = conn.execute(_GET_SQL, (job_id,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"job store read failed: {exc}") from exc
        return None if row is None else job_from_row(row)

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        conds = []
        if q.service is not None:
            conds.append(jobs.c.service == q.service)
        if q.task is not None:
            conds.append(jobs.c.task == q.task)
        if q.statuses is not None:
            conds.append(jobs.c.status.in_([s.value for s in q.statuses]))
        if q.owner is not None:
            conds.append(jobs.c.owner == q.owner)
        if q.kind is not None:
            conds.append(jobs.c.kind == q.kind)
        if q.created_after is not None:
            conds.append(jobs.c.created >= q.created_after)
        if q.created_before is not None:
            conds.append(jobs.c.created <= q.created_before)
        order = (jobs.c.created.asc(), jobs.c.id.asc()) if q.oldest_first else (
            jobs.c.created.desc(), jobs.c.id.desc())
        page = select(jobs).where(*conds).order_by(*order).offset(q.offset)
        if q.limit is not None:
            page = page.limit(q.limit)
        count = select(func.count()).select_from(jobs).where(*conds)

        def run(c: Connection) -> tuple[int, list[Job]]:
            total = c.execute(count).scalar_one()
            return total, [job_from_row(r) for r in c.execute(page)]

        return self._read(run)

    def _update(self, job_id: str, values: dict[str, Any], where: str, messages: Sequence[Message],
                returning: str = "*") -> list[Any]:
        sql = _update_sql(tuple(values), f"id = :id AND {where}", bool(messages), returning,
                          values.get("finished") is not None)
        params = {**values, "id": job_id}
        if messages:
            params["new_messages"] = _dumps([m.to_json() for m in messages])
        return self._write_sql(sql, params)

    def transition(self, job_id: str, src: Iterable[Status], dst: Status, **fields: Any) -> Job | None:
        messages = fields.pop("messages", ())
        values = _encode_fields(fields)
        values["status"] = dst.value
        values["updated"] = time.time()
        rows = self._update(job_id, values, f"status IN ({_in(s.value for s in src)})", messages)
        return job_from_row(rows[0]) if rows else None

    def report(self, job_id: str, messages: Sequence[Message] = (), progress: Progress | None = None) -> None:
        values: dict[str, Any] = {"updated": time.time()}
        if progress is not None:
            values["progress"] = _dumps(progress.to_json())
        self._update(job_id, values, f"status NOT IN ({_in(_TERMINAL)})", messages, returning="")

    def claim(self, job_id: str, worker: str) -> Job | None:
        rows = self._write_sql(_CLAIM_SQL, {"id": job_id, "worker": worker, "now": time.time()})
        return job_from_row(rows[0]) if rows else None

    def heartbeat(self, job_id: str, worker: str) -> bool:
        rows = self._write_sql(_HEARTBEAT_SQL, {"id": job_id, "worker": worker, "now": time.time()})
        return not rows or bool(rows[0][0])   # lost the job, or asked to cancel

    def reap(self, stale_before: float) -> list[Job]:
        stmt = select(jobs).where(jobs.c.status.in_(_ACTIVE),
                                  func.coalesce(jobs.c.heartbeat, 0) < stale_before)
        return self._read(lambda c: [job_from_row(r) for r in c.execute(stmt)])

    def delete(self, job_id: str) -> bool:
        return bool(self._write_sql(_DELETE_SQL, {"id": job_id}))

    def expired(self, now: float, limit: int = 500) -> list[str]:
        stmt = (select(jobs.c.id)
                .where(jobs.c.expires <= now, jobs.c.status.in_([s.value for s in TERMINAL]))
                .limit(limit))
        return self._read(lambda c: list(c.execute(stmt).scalars()))

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()


def _encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Job attribute values -> column values."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "progress":
            value = _dumps(value.to_json())
        elif key in _JSON_COLUMNS:
            value = _dumps(value)
        elif isinstance(value, Status | Kind):
            value = value.value
        out[key] = value
    return out
