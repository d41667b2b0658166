"""A logging handler that keeps records in the store without ever making a request or a job
wait for it.

``emit`` turns the record into a row and appends it to a bounded queue (a deque append: no
lock, no I/O); a thread of its own hands the rows to ``sink`` in batches (one transaction
each: the store's ``LogStore.add``, or a local worker's pipe to its server).  When the queue
is full (the store is down, or something logs in a loop) records are dropped and counted,
and a WARNING row says how many once there is room again.  A sink that fails loses its
batch, said on stderr (at most once a minute), never retried: logs must not pile up behind
an outage.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Sink = Callable[[list[dict[str, Any]]], None]
BATCH = 500                 # rows a sink call takes at most
INTERVAL = 0.5              # seconds between writes while records trickle in
MAX_MESSAGE = 8000          # characters of a message (and its traceback) kept
SELF = "opengp.logstore"    # this handler's own complaints: to stderr only (a failing store would feed itself)
COMPLAIN_EVERY = 60.0
HOST = socket.gethostname()
_self = logging.getLogger(SELF)


def record_row(record: logging.LogRecord) -> dict[str, Any]:
    """What the store keeps of a record (store/logs.py's columns; the store fits each text to
    its column)."""
    message = record.getMessage()
    if record.exc_info:
        message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
    return {"time": int(record.created * 1000), "level": record.levelno, "logger": record.name,
            "message": message[:MAX_MESSAGE], "machine": HOST, "process": record.process or 0,
            "thread": record.threadName or "", "method": record.funcName or "",
            "job_id": getattr(record, "job_id", None), "request_id": getattr(record, "request_id", None),
            "service": getattr(record, "service", None), "username": getattr(record, "user", None)}


def _dropped_row(count: int) -> dict[str, Any]:
    return {"time": int(time.time() * 1000), "level": logging.WARNING, "logger": SELF,
            "message": f"{count} log record(s) were dropped: the queue of records waiting for the store was full.",
            "machine": HOST, "process": os.getpid(), "thread": threading.current_thread().name,
            "method": "", "job_id": None, "request_id": None, "service": None, "username": None}


class BatchHandler(logging.Handler):
    """Records at ``level`` and above, queued (at most ``capacity``) and written by ``sink``.

    ``dropped_total``: records dropped because the queue was full, since the start."""

    def __init__(self, sink: Sink, level: int, *, capacity: int = 10_000, batch: int = BATCH,
                 interval: float = INTERVAL) -> None:
        super().__init__(level)
        self.sink, self.capacity, self.batch, self.interval = sink, capacity, batch, interval
        self.dropped_total = 0
        self._dropped = 0           # since the last WARNING row; emitting threads add, the writer takes
        self._dropped_lock = threading.Lock()       # (taken only when dropping: never on a kept record)
        self._rows: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        self._complained = 0.0

    # -- the emitting side: never blocks ---------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        if record.name == SELF:
            return
        try:
            row = record_row(record)
        except Exception:
            self.handleError(record)
            return
        self.accept([row])

    def accept(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows made elsewhere (a local worker's, received over its pipe)."""
        if self._stopping:
            return
        self._running()
        room = max(0, self.capacity - len(self._rows))
        if len(rows) > room:
            with self._dropped_lock:
                self._dropped += len(rows) - room
            rows = rows[:room]
        self._rows.extend(rows)
        if len(self._rows) >= self.batch:
            self._wake.set()

    def _running(self) -> None:
        """The writer thread, started on first use (and again in a forked child, which has
        none: the rows its parent queued are the parent's to write)."""
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._rows.clear()
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._loop, name="opengp-logstore", daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    # -- the writing side ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while self._rows or self._dropped:
            batch: list[dict[str, Any]] = []
            while self._rows and len(batch) < self.batch:
                batch.append(self._rows.popleft())
            if self._dropped:
                with self._dropped_lock:
                    count, self._dropped = self._dropped, 0
                self.dropped_total += count
                batch.append(_dropped_row(count))
                self._complain("%d log record(s) dropped: the log store's queue was full", count)
            try:
                self.sink(batch)
            except Exception as exc:
                self._complain("writing %d log record(s) to the store failed: %s", len(batch), exc)

    def _complain(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._complained >= COMPLAIN_EVERY:
            self._complained = now
            _self.warning(message, *args)

    def close(self) -> None:
        """Write what is queued (waiting a few seconds at most), then stop."""
        if not self._stopping:
            self._stopping = True
            self._wake.set()
            thread = self._thread
            if thread is not None and self._pid == os.getpid() and thread is not threading.current_thread():
                thread.join(5)
        super().close()
