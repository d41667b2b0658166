"""The server log an API server keeps and reads: its own records (and its local workers',
received over their pipes) go to the store through one ``BatchHandler``; ``logs/query``
reads pages of every server's and worker's records; the periodic purge trims it.

Pages follow ArcGIS's ``logs/query``: newest first from ``startTime`` (the most recent time)
back to ``endTime``; when ``hasMore``, the answer's ``endTime`` is the next page's
``startTime``.  A page never splits the records of one millisecond, so that paging neither
repeats nor skips a record (ArcGIS's own pages may, at a page boundary).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from ..store.logs import CappedWriter, LogQuery, LogRecord, LogStore
from ..system.logqueue import BatchHandler
from ..system.logsetup import attach_store, detach_store, level_number

log = logging.getLogger("opengp.logs")


@dataclass(frozen=True, slots=True)
class LogPage:
    records: list[LogRecord]
    has_more: bool
    newest: int             # ms: the query's start (its most recent time)
    oldest: int             # ms: with has_more, the next page's start


class ServerLog:
    """This API server's side of the log in the store (settings: ``log_store_*``)."""

    def __init__(self, store: LogStore, settings: Any) -> None:
        self.store, self.settings = store, settings
        self.level = level_number(settings.log_store_level)     # None: OFF
        self.started = int(time.time() * 1000)
        self.handler: BatchHandler | None = None
        self.writer = CappedWriter(store, settings.log_store_rows, settings.log_store_days)

    # -- writing ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Keep this process's records at the level set (none when OFF)."""
        if self.level is not None and self.handler is None:
            self.handler = attach_store(self.writer, self.level)

    def accept(self, rows: list[dict[str, Any]]) -> None:
        """A local worker's records (already at the level: its own handler chose them)."""
        if self.handler is not None:
            self.handler.accept(rows)

    def stop(self) -> None:
        if self.handler is not None:
            detach_store(self.handler)
            self.handler = None

    async def trim(self) -> int:
        """Forget what is past the row cap or the age (the periodic purge)."""
        return await asyncio.to_thread(self.writer.trim)

    async def clean(self) -> int:
        return await asyncio.to_thread(self.store.clear)

    # -- reading ---------------------------------------------------------------------------------
    async def page(self, q: LogQuery, since_start: bool = False) -> LogPage:
        """A page of at most ``q.limit`` records (more only when one millisecond holds more)."""
        if since_start:
            q = replace(q, oldest=max(q.oldest or 0, self.started))
        newest = q.newest if q.newest is not None else int(time.time() * 1000)
        return await asyncio.to_thread(self._page, replace(q, newest=newest))

    def _page(self, q: LogQuery) -> LogPage:
        size = q.limit or 1000
        found = self.store.query(replace(q, limit=size + 1))
        if len(found) <= size:
            return LogPage(found, False, q.newest or 0, found[-1].time if found else (q.oldest or 0))
        boundary = found[size].time         # the first record left out
        kept = [r for r in found[:size] if r.time > boundary]
        if kept:
            return LogPage(kept, True, q.newest or 0, boundary)
        # the whole page is one millisecond: all of it, then on from the millisecond before
        same = self.store.query(replace(q, newest=boundary, oldest=boundary, limit=None))
        older = self.store.query(replace(q, newest=boundary - 1, limit=1))
        return LogPage(same, bool(older), q.newest or 0, boundary - 1 if older else boundary)

    def describe(self) -> dict[str, Any]:
        """``logs/settings`` (ArcGIS's fields; ``maxLogRecords`` and ``logFormat`` are opengp's)."""
        return {"logDir": "", "logLevel": self.settings.log_store_level,
                "maxLogFileAge": self.settings.log_store_days, "maxErrorReportsCount": 0,
                "maxLogRecords": self.settings.log_store_rows, "logFormat": self.settings.log_format}
