"""JobContext: everything a running tool may touch of its job.

Progress and messages are buffered and written at most every
``FLUSH_INTERVAL`` seconds, so a tool reporting in a tight loop costs a few
store writes, not thousands.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import Level, Message, Progress

if TYPE_CHECKING:
    from ..store import JobStore

FLUSH_INTERVAL = 0.2


class JobContext:
    """Handed to a tool that declares a parameter typed ``JobContext``.

    ``progress(percent)``, ``stage(name)``, ``info/warning/error(text)``,
    ``cancelled`` (poll it in long loops to stop early) and ``workdir`` (the
    job's own folder; files written there can be returned as outputs).
    """

    def __init__(self, job_id: str, store: JobStore, workdir: Path) -> None:
        self.job_id = job_id
        self._workdir = workdir
        self._workdir_made = False
        self._store = store
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._progress: Progress | None = None
        self._current = Progress()
        self._last_flush = time.monotonic()   # the first report waits like the rest
        self._cancel = threading.Event()

    # -- for tools ------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """The job's own folder, created on first use; files written here can be outputs."""
        if not self._workdir_made:
            self._workdir.mkdir(parents=True, exist_ok=True)
            self._workdir_made = True
        return self._workdir

    @property
    def cancelled(self) -> bool:
        """True once a cancel was requested; stop soon and return or raise."""
        return self._cancel.is_set()

    def progress(self, percent: float | None, message: str | None = None) -> None:
        """Percent complete, 0-100 (clamped)."""
        if percent is not None:
            percent = min(100.0, max(0.0, float(percent)))
        self._set(Progress(percent, self._current.stage, message))

    def stage(self, name: str) -> None:
        """Start a named stage; also logged as an informative message."""
        self._set(Progress(self._current.percent, name, None))
        self._add(Message.now(Level.INFO, name))

    def info(self, text: str) -> None:
        self._add(Message.now(Level.INFO, str(text)))

    def warning(self, text: str) -> None:
        self._add(Message.now(Level.WARNING, str(text)))

    def error(self, text: str) -> None:
        self._add(Message.now(Level.ERROR, str(text)))

    # -- for the runtime ------------------------------------------------
    def request_cancel(self) -> None:
        self._cancel.set()

    def take_pending(self) -> tuple[list[Message], Progress | None]:
        """Buffered messages and progress, emptied."""
        with self._lock:
            messages, self._messages = self._messages, []
            progress, self._progress = self._progress, None
            return messages, progress

    def flush(self) -> None:
        messages, progress = self.take_pending()
        self._last_flush = time.monotonic()
        if messages or progress is not None:
            self._store.report(self.job_id, messages, progress)

    def _set(self, progress: Progress) -> None:
        with self._lock:
            self._current = self._progress = progress
        self._maybe_flush()

    def _add(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()
