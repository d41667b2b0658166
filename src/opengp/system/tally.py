"""Counts and timings kept in a process's memory and added to their Prometheus metrics about
once a second, so the hot paths (every HTTP request, every job's claim and end) pay a dict
update, not a locked write to a memory-mapped file for each value.

In prometheus_client's multiprocess mode (system/metrics.py) ``Counter.inc`` and
``Histogram.observe`` each take a lock, check the pid and pack doubles into a memory-mapped
file: a request's count and time were 3 us of the 12 us that metrics and request ids added to a
status poll (docs/performance.md, "Metrics").  Here they cost about 0.5 us; a thread of the
process adds what was tallied to the metrics every ``EVERY`` seconds, and a scrape adds this
process's own first.  So a scrape may miss up to a second of another process's counts (the
next scrape has them), and a process that ends abruptly (killed) loses at most its last
second: Prometheus scrapes every 15 s or so, and ``rate()`` over minutes.

Forked children (Celery's pool) start empty, with a flusher of their own.
"""
from __future__ import annotations

import atexit
import bisect
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger("opengp.metrics")
EVERY = 1.0     # seconds between flushes


class Tally:
    """Increments and observations of labelled Prometheus metrics, added to them in bulk."""

    def __init__(self, every: float = EVERY) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._counts: dict[tuple[Any, tuple[str, ...]], float] = {}
        # (histogram, labels) -> one count per bucket, then the sum of the values
        self._timings: dict[tuple[Any, tuple[str, ...]], list[float]] = {}
        self._levels: dict[tuple[Any, tuple[str, ...]], float] = {}      # gauges: the last value set
        self._flusher: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget)
        atexit.register(self.flush)

    def inc(self, counter: Any, labels: tuple[str, ...], amount: float = 1.0) -> None:
        """``counter.labels(*labels).inc(amount)``, soon."""
        key = (counter, labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + amount
        if self._flusher is None:
            self._start()

    def observe(self, histogram: Any, labels: tuple[str, ...], value: float) -> None:
        """``histogram.labels(*labels).observe(value)``, soon."""
        with self._lock:
            self._observe((histogram, labels), histogram._upper_bounds, value)
        if self._flusher is None:
            self._start()

    def count_and_time(self, counter: Any, counter_labels: tuple[str, ...], histogram: Any | None,
                       histogram_labels: tuple[str, ...], value: float) -> None:
        """:meth:`inc` of ``counter`` and, unless ``histogram`` is None, :meth:`observe` of
        ``value``, together (one lock: every HTTP request does both)."""
        key = (counter, counter_labels)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + 1.0
            if histogram is not None:
                self._observe((histogram, histogram_labels), histogram._upper_bounds, value)
        if self._flusher is None:
            self._start()

    def _observe(self, key: tuple[Any, tuple[str, ...]], bounds: Any, value: float) -> None:
        """(the lock held) ``bounds``: the buckets' upper bounds, +Inf last."""
        row = self._timings.get(key)
        if row is None:
            row = self._timings[key] = [0.0] * (len(bounds) + 1)
        row[bisect.bisect_left(bounds, value)] += 1     # observe(): the first bound >= value
        row[-1] += value

    def set(self, gauge: Any, labels: tuple[str, ...], value: float) -> None:
        """``gauge.labels(*labels).set(value)``, soon (the last value set wins)."""
        with self._lock:
            self._levels[(gauge, labels)] = value
        if self._flusher is None:
            self._start()

    def flush(self) -> None:
        """Add what was tallied to the metrics (the flusher's work; a scrape calls it too)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            timings, self._timings = self._timings, {}
            levels, self._levels = self._levels, {}
        for (counter, labels), amount in counts.items():
            counter.labels(*labels).inc(amount)
        for (histogram, labels), row in timings.items():
            child = histogram.labels(*labels)
            # prometheus_client keeps a histogram as one value per bucket (not cumulative) and a
            # sum, as observe() writes them: added to in bulk here (pinned in pyproject.toml;
            # tests/api/test_metrics.py checks the buckets and sums a scrape shows)
            for bucket, count in zip(child._buckets, row):
                if count:
                    bucket.inc(count)
            child._sum.inc(row[-1])
        for (gauge, labels), value in levels.items():
            gauge.labels(*labels).set(value)

    def _start(self) -> None:
        with self._lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, name="opengp-metrics", daemon=True)
                self._flusher.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.flush()
            except Exception:       # never let a metrics write end the thread; the next second's go on
                log.warning("adding tallied counts to the metrics failed", exc_info=True)

    def _forget(self) -> None:
        """In a forked child: the parent's tallies are the parent's, and its thread is not here."""
        self._lock = threading.Lock()
        self._counts, self._timings, self._levels, self._flusher = {}, {}, {}, None


TALLY = Tally()
