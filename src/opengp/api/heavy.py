"""CPU-heavy work on a job's large values, in a helper process.

Parsing a large value builds millions of Python objects while holding the GIL: a 50 MB
feature set took 2.4 s to decode, and in the API server (on a thread too) that stalled every
other request for as long.  The few answers that must transform a large value (a result
reprojected by ``env:outSR``, the GeoJSON OGC API - Processes sends for a feature set) hand
its JSON bytes to one helper process, started on first use, and get bytes back.  Small values
(kept in the job's record: ``store/values.py``) are transformed in place, as before.

A helper that dies (out of memory) is replaced at the next call; the request that was in it
is answered 503.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..core import Unavailable
from ..system.processes import die_with_parent

T = TypeVar("T")
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _helper() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:       # spawned: a fresh interpreter, nothing of the server's state
            # it dies with the server (an idle pool worker would otherwise outlive a crash)
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                        initializer=die_with_parent, initargs=(os.getpid(),))
        return _pool


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the helper process; ``fn`` is a module-level function of opengp."""
    global _pool
    pool = _helper()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    except BrokenProcessPool:
        with _lock:
            if _pool is pool:
                _pool = None        # the next call starts another
        raise Unavailable("The server could not transform this value (its helper process ended); "
                          "try again.") from None


def stop() -> None:
    """At the server's shutdown: the helper goes too."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
