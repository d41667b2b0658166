"""The outbox: deliveries owed to webhooks, written in the transaction that ends a job.

A job's end and the rows saying who must hear of it commit together (``ENQUEUE``, run by
the job store's ``transition`` when a job ends), so a crash between the two cannot lose
an event.  Any API server then delivers: it leases due rows (``claim_due``; on PostgreSQL
``SKIP LOCKED``, so two servers never hold the same row), posts, and records the attempt
(``record``).  A server that dies holding a lease loses it when the lease runs out, and
another delivers: at least once, under the delivery id (``<job id>:<webhook id>``) the
receiver can drop duplicates by.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..core import Conflict, Job, Kind, Status
from .engine import run
from .webhooks import Webhook, name_taken

WAITING, PENDING, DELIVERED, FAILED, DROPPED = "waiting", "pending", "delivered", "failed", "dropped"
WEBHOOK, CALLBACK = "webhook", "callback"
# A callback's events (a job's ``options["callbacks"]``: {event: URL}), each sent at most once
STARTED, SUCCEEDED_EVENT, FAILED_EVENT = "started", "succeeded", "failed"
CALLBACK_EVENTS = (STARTED, SUCCEEDED_EVENT, FAILED_EVENT)
HISTORY = 20            # attempts kept per delivery (the first ones and the latest are what matter)

# Run in the transaction of a job's end (statements both databases take as they are).
ENQUEUE = (
    "INSERT INTO outbox (id, kind, target, job_id, service, task, status, event_time, state, attempts, "
    "next_attempt, updated) "
    "SELECT j.id || ':' || w.id, 'webhook', w.id, j.id, j.service, j.task, j.status, "
    "coalesce(j.finished, j.updated), 'pending', 0, j.updated, j.updated "
    "FROM jobs j JOIN webhooks w ON w.service = j.service "
    "WHERE j.id = :id AND j.kind = 'gp' AND w.active = true "
    "ON CONFLICT (id) DO NOTHING"
)

# A job's callbacks, written with the job (waiting for their event), then woken by the move
# that is their event: ``WAKE_STARTED`` as it is claimed (a write of its own: a crash between
# the two leaves it to the end, which sends it then), ``CALLBACKS_AT_END`` with its end (the
# end's event, and "started" if it ever ran; the rest are dropped).
CALLBACK_INSERT = (
    "INSERT INTO outbox (id, kind, target, url, job_id, service, task, status, event_time, state, attempts, "
    "next_attempt, updated) VALUES (:id, 'callback', :target, :url, :job_id, :service, :task, '', 0, 'waiting', 0, "
    "0, :now)"
)
WAKE_STARTED = (
    "UPDATE outbox SET state = 'pending', status = 'executing', event_time = :now, next_attempt = :now, "
    "updated = :now WHERE job_id = :id AND kind = 'callback' AND target = 'started' AND state = 'waiting'"
)
CALLBACKS_AT_END = (
    "UPDATE outbox SET state = CASE WHEN target = :event OR (target = 'started' AND "
    "(SELECT started FROM jobs WHERE id = :id) IS NOT NULL) THEN 'pending' ELSE 'dropped' END, "
    "status = :status, event_time = :now, updated = :now, "
    "next_attempt = CASE WHEN target = 'started' THEN :now - 0.001 ELSE :now END "
    "WHERE job_id = :id AND kind = 'callback' AND state = 'waiting'"
)

# A job deleted before its events: its callbacks that still wait go with it
FORGET_WAITING = "DELETE FROM outbox WHERE job_id = :id AND state = 'waiting'"
KEEP_DAYS = 7           # finished deliveries (their attempts: notificationStatus) are kept this long


def callback_rows(job: Job) -> list[dict[str, Any]]:
    """The outbox rows of a job's callbacks (``options["callbacks"]``), as created."""
    wanted = (job.options or {}).get("callbacks") or {}
    return [{"id": f"{job.id}:{event}", "target": event, "url": wanted[event], "job_id": job.id,
             "service": job.service, "task": job.task, "now": job.created}
            for event in CALLBACK_EVENTS if wanted.get(event)]


def has_started_callback(job: Job) -> bool:
    return bool(((job.options or {}).get("callbacks") or {}).get(STARTED))


def at_end(job_id: str, status: Status) -> dict[str, Any]:
    """``CALLBACKS_AT_END``'s parameters for a job ending in ``status``."""
    event = SUCCEEDED_EVENT if status is Status.SUCCEEDED else FAILED_EVENT
    return {"id": job_id, "event": event, "status": status.value, "now": time.time()}


@dataclass(frozen=True, slots=True)
class Attempt:
    time: float
    code: int | None        # the receiver's HTTP status; None when it could not be reached
    error: str | None       # why it did not count as delivered; None when it did


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event owed to one webhook."""

    id: str
    target: str             # the webhook's id
    job_id: str
    service: str
    task: str
    status: str             # the job's end (a core Status value)
    event_time: float
    state: str = PENDING
    attempts: int = 0
    next_attempt: float = 0.0
    history: tuple[Attempt, ...] = ()
    kind: str = WEBHOOK
    url: str | None = None          # a callback's


class OutboxStore(Protocol):
    def claim_due(self, worker: str, lease: float, limit: int = 20) -> list[Delivery]:
        """Lease up to ``limit`` pending deliveries that are due (and not leased by a live
        lease) to ``worker`` for ``lease`` seconds, oldest due first."""

    def record(self, delivery: Delivery, worker: str, attempt: Attempt, state: str, next_attempt: float) -> bool:
        """The outcome of one attempt: the delivery's new ``state`` (pending again: retried at
        ``next_attempt``), its lease let go.  False when ``worker`` no longer held it."""

    def history(self, target: str, offset: int = 0, limit: int = 50) -> tuple[int, list[Delivery]]:
        """``(total, a page)`` of a webhook's deliveries, newest event first."""

    def purge(self, age: float = KEEP_DAYS * 86400) -> int:
        """Forget deliveries that ended (delivered, failed, dropped) over ``age`` seconds ago."""

    def release(self) -> int:
        """Let go of every lease (a local server starting: nobody else delivers)."""


def _attempts(raw: str | None) -> tuple[Attempt, ...]:
    return tuple(Attempt(*a) for a in orjson.loads(raw)) if raw else ()


def _kept(history: tuple[Attempt, ...]) -> tuple[Attempt, ...]:
    return history if len(history) <= HISTORY else history[:1] + history[-(HISTORY - 1):]


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(id=m["id"], target=m["target"], job_id=m["job_id"], service=m["service"], task=m["task"],
                    status=m["status"], event_time=m["event_time"], state=m["state"], attempts=m["attempts"],
                    next_attempt=m["next_attempt"], history=_attempts(m["history"]), kind=m["kind"], url=m["url"])


class SqlOutbox:
    """The outbox over the job store's engine; times on the database's clock on PostgreSQL
    (servers' clocks may differ), on this machine's on SQLite (one machine)."""

    def __init__(self, engine: Engine, is_sqlite: bool, clock: str, writer: Any = None) -> None:
        """``clock``: the job store's SQL for now; ``writer``: SQLite's one writer's lock (the
        job store's), so a delivery never makes the event loop's job writes wait for the file."""
        self.engine = engine
        self._writer = writer
        now = clock
        skip = "" if is_sqlite else " FOR UPDATE SKIP LOCKED"
        self._claim = text(
            f"UPDATE outbox SET leased_by = :worker, lease_until = {now} + :lease WHERE id IN ("
            f"SELECT id FROM outbox WHERE state = 'pending' AND next_attempt <= {now} "
            f"AND (lease_until IS NULL OR lease_until < {now}) ORDER BY next_attempt LIMIT :limit{skip}) "
            "RETURNING *")
        # a read first: most polls find nothing, and then take no write lock (SQLite) or row locks
        self._any_due = text(f"SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt <= {now} LIMIT 1")
        self._purge = text(f"DELETE FROM outbox WHERE state IN ('delivered', 'failed', 'dropped') "
                           f"AND updated < {now} - :age")
        self._record = text(
            f"UPDATE outbox SET state = :state, attempts = attempts + 1, next_attempt = {now} + :delay, "
            "last_code = :code, last_error = :error, history = :history, leased_by = NULL, lease_until = NULL, "
            f"updated = {now} WHERE id = :id AND leased_by = :worker")
        self._is_sqlite = is_sqlite

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="outbox", writer=self._writer)

    def _params(self, **params: Any) -> dict[str, Any]:
        if self._is_sqlite:
            params["now"] = time.time()
        return params

    def claim_due(self, worker: str, lease: float, limit: int = 20) -> list[Delivery]:
        if self._run(lambda c: c.execute(self._any_due, self._params()).first()) is None:
            return []
        params = self._params(worker=worker, lease=lease, limit=limit)
        rows = self._run(lambda c: c.execute(self._claim, params).fetchall(), write=True)
        return sorted((_delivery(r) for r in rows), key=lambda d: d.next_attempt)

    def record(self, delivery: Delivery, worker: str, attempt: Attempt, state: str, next_attempt: float) -> bool:
        history = _kept(delivery.history + (attempt,))
        params = self._params(id=delivery.id, worker=worker, state=state, delay=max(0.0, next_attempt - time.time()),
                              code=attempt.code, error=attempt.error,
                              history=orjson.dumps([(a.time, a.code, a.error) for a in history]).decode())
        return self._run(lambda c: c.execute(self._record, params).rowcount == 1, write=True)

    def history(self, target: str, offset: int = 0, limit: int = 50) -> tuple[int, list[Delivery]]:
        def read(c: Any) -> tuple[int, list[Delivery]]:
            total = c.execute(text("SELECT count(*) FROM outbox WHERE target = :t"), {"t": target}).scalar_one()
            rows = c.execute(text("SELECT * FROM outbox WHERE target = :t ORDER BY event_time DESC, id "
                                  "LIMIT :limit OFFSET :offset"), {"t": target, "limit": limit, "offset": offset})
            return int(total), [_delivery(r) for r in rows]
        return self._run(read)

    def purge(self, age: float = KEEP_DAYS * 86400) -> int:
        return self._run(lambda c: c.execute(self._purge, self._params(age=age)).rowcount, write=True)

    def release(self) -> int:
        return self._run(lambda c: c.execute(text(
            "UPDATE outbox SET leased_by = NULL, lease_until = NULL WHERE leased_by IS NOT NULL")).rowcount,
            write=True)


class MemoryOutbox:
    """Webhooks and their outbox in memory, beside the in-memory job store (which calls
    ``enqueue`` as a job ends, under its own lock)."""

    def __init__(self) -> None:
        self._hooks: dict[str, Webhook] = {}
        self._rows: dict[str, Delivery] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.RLock()

    # -- WebhookStore
    def list(self, service: str) -> list[Webhook]:
        with self._lock:
            return sorted((h for h in self._hooks.values() if h.service == service), key=lambda h: (h.created, h.id))

    def get(self, hook_id: str) -> Webhook | None:
        with self._lock:
            return self._hooks.get(hook_id)

    def add(self, hook: Webhook) -> None:
        with self._lock:
            if hook.id in self._hooks:
                raise Conflict(f"Webhook '{hook.id}' exists.")
            self._check_name(hook)
            self._hooks[hook.id] = hook

    def replace(self, hook: Webhook) -> None:
        with self._lock:
            self._check_name(hook)
            self._hooks[hook.id] = hook

    def _check_name(self, hook: Webhook) -> None:
        if any(h.service == hook.service and h.name == hook.name and h.id != hook.id for h in self._hooks.values()):
            raise name_taken(hook)

    def remove(self, hook_id: str) -> bool:
        with self._lock:
            return self._hooks.pop(hook_id, None) is not None

    def remove_service(self, service: str) -> int:
        with self._lock:
            gone = [k for k, h in self._hooks.items() if h.service == service]
            for k in gone:
                del self._hooks[k]
            return len(gone)

    # -- the job store's side
    def enqueue(self, job: Job) -> None:
        """``ENQUEUE`` for the in-memory store."""
        if job.kind is not Kind.GP:
            return
        with self._lock:
            for hook in self.list(job.service):
                key = f"{job.id}:{hook.id}"
                if hook.active and key not in self._rows:
                    self._rows[key] = Delivery(key, hook.id, job.id, job.service, job.task, job.status.value,
                                               job.finished or job.updated, next_attempt=job.updated)

    def add_callbacks(self, job: Job) -> None:
        with self._lock:
            for row in callback_rows(job):
                self._rows[row["id"]] = Delivery(row["id"], row["target"], job.id, job.service, job.task, "", 0.0,
                                                 state=WAITING, kind=CALLBACK, url=row["url"])

    def wake_started(self, job: Job) -> None:
        with self._lock:
            row = self._rows.get(f"{job.id}:{STARTED}")
            if row is not None and row.state == WAITING:
                now = time.time()
                self._rows[row.id] = replace(row, state=PENDING, status=Status.EXECUTING.value, event_time=now,
                                             next_attempt=now)

    def callbacks_at_end(self, job: Job) -> None:
        params = at_end(job.id, job.status)
        with self._lock:
            for row in [r for r in self._rows.values() if r.job_id == job.id and r.kind == CALLBACK
                        and r.state == WAITING]:
                sent = row.target == params["event"] or (row.target == STARTED and job.started is not None)
                self._rows[row.id] = replace(row, state=PENDING if sent else DROPPED, status=job.status.value,
                                             event_time=params["now"], next_attempt=params["now"] - (
                                                 0.001 if row.target == STARTED else 0))

    # -- OutboxStore
    def claim_due(self, worker: str, lease: float, limit: int = 20) -> list[Delivery]:
        now = time.time()
        with self._lock:
            due = sorted((d for d in self._rows.values() if d.state == PENDING and d.next_attempt <= now
                          and self._leases.get(d.id, ("", 0.0))[1] < now), key=lambda d: d.next_attempt)[:limit]
            for d in due:
                self._leases[d.id] = (worker, now + lease)
            return due

    def record(self, delivery: Delivery, worker: str, attempt: Attempt, state: str, next_attempt: float) -> bool:
        with self._lock:
            held = self._leases.get(delivery.id)
            if held is None or held[0] != worker:
                return False
            del self._leases[delivery.id]
            now = self._rows[delivery.id]
            self._rows[delivery.id] = replace(now, state=state, attempts=now.attempts + 1, next_attempt=next_attempt,
                                              history=_kept(now.history + (attempt,)))
            return True

    def history(self, target: str, offset: int = 0, limit: int = 50) -> tuple[int, list[Delivery]]:
        with self._lock:
            mine = sorted((d for d in self._rows.values() if d.target == target), key=lambda d: (-d.event_time, d.id))
        return len(mine), mine[offset:offset + limit]

    def forget_waiting(self, job_id: str) -> None:
        with self._lock:
            for key in [k for k, d in self._rows.items() if d.job_id == job_id and d.state == WAITING]:
                del self._rows[key]

    def purge(self, age: float = KEEP_DAYS * 86400) -> int:
        with self._lock:
            # (the in-memory rows keep no ``updated``: the event's time stands in for it)
            old = [k for k, d in self._rows.items() if d.state in (DELIVERED, FAILED, DROPPED)
                   and d.event_time < time.time() - age]
            for k in old:
                del self._rows[k]
            return len(old)

    def release(self) -> int:
        with self._lock:
            n = len(self._leases)
            self._leases.clear()
            return n


def open_outbox(job_store: Any) -> tuple[Any, Any]:
    """``(WebhookStore, OutboxStore)`` beside a job store: SQL on its engine, or the in-memory
    store's own."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        return job_store.outbox, job_store.outbox
    from .webhooks import SqlWebhookStore

    return SqlWebhookStore(engine), SqlOutbox(engine, job_store.is_sqlite, job_store.clock, job_store.writer())
