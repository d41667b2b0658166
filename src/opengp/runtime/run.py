"""run_job: the one code path that executes a job, in any worker.

It claims the job (compare-and-set, so a redelivered job never runs twice),
heartbeats while the tool runs, and writes results, messages and the final
status in one transition.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..core import Job, Level, Message, Status
from ..store import Store
from ..tools.gptypes import DumpEnv, ParseEnv
from ..tools.registry import Registry
from .context import FLUSH_INTERVAL, JobContext
from .files import job_dir, job_files_url

log = logging.getLogger("opengp.runtime")
_RUNNING = (Status.EXECUTING, Status.CANCELLING)


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%A, %B %d, %Y %H:%M:%S")


def run_job(
    job_id: str,
    store: Store,
    registry: Registry,
    data_dir: Path,
    *,
    worker: str,
    heartbeat_interval: float = 5.0,
    on_context: Callable[[JobContext | None], None] | None = None,
) -> Status | None:
    """Run one job to its end.  Returns its final status, or None if not claimed."""
    job = store.claim(job_id, worker)
    if job is None:
        return None
    start = time.time()
    try:
        spec = registry.service(job.service).tool(job.task)
    except Exception as exc:
        return _finish(store, job, Status.FAILED, error=str(exc), messages=[])
    workdir = job_dir(data_dir, job.service, job.id)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(job.id, store, workdir)
    ctx.info(f"Executing ({job.task}): start time {_stamp(start)}")
    if on_context:
        on_context(ctx)
    beat = _Heartbeat(ctx, store, worker, heartbeat_interval)
    beat.start()
    try:
        kwargs: dict[str, Any] = spec.load(job.inputs, ParseEnv(workdir=workdir))
        if spec.context_arg:
            kwargs[spec.context_arg] = ctx
        returned = spec.func(**kwargs)
        env = DumpEnv(out_sr=job.options.get("out_sr"), workdir=workdir,
                      files_url=job_files_url(job.options.get("base_url"), job.service, job.id))
        results = spec.dump(returned, env)
    except Exception as exc:
        beat.stop()
        if ctx.cancelled:
            return _cancelled(store, job, ctx)
        text = str(exc) or type(exc).__name__
        log.info("job %s failed: %s\n%s", job.id, text, traceback.format_exc())
        ctx.error(text)
        ctx.error(f"Failed to execute ({job.task}).")
        return _finish(store, job, Status.FAILED, error=text, messages=ctx.take_pending()[0])
    finally:
        beat.stop()
        if on_context:
            on_context(None)
    if ctx.cancelled:
        return _cancelled(store, job, ctx)
    end = time.time()
    ctx.info(f"Succeeded at {_stamp(end)} (Elapsed Time: {end - start:.2f} seconds)")
    messages, progress = ctx.take_pending()
    fields: dict[str, Any] = {"results": results}
    if progress is not None:
        fields["progress"] = progress
    return _finish(store, job, Status.SUCCEEDED, messages=messages, **fields)


def _cancelled(store: Store, job: Job, ctx: JobContext) -> Status | None:
    ctx.warning("Cancelled by request.")
    return _finish(store, job, Status.CANCELLED, messages=ctx.take_pending()[0])


def _finish(store: Store, job: Job, status: Status, *, messages: list[Message], **fields: Any) -> Status | None:
    done = store.transition(job.id, _RUNNING, status, finished=time.time(), messages=messages, **fields)
    if done is None:  # someone else (cancel, timeout, reaper) already ended it
        current = store.get(job.id)
        return current.status if current else None
    return status


class _Heartbeat:
    """Renews the job's lease, flushes buffered reports, notices cancels."""

    def __init__(self, ctx: JobContext, store: Store, worker: str, interval: float) -> None:
        self._ctx, self._store, self._worker, self._interval = ctx, store, worker, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="opengp-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(FLUSH_INTERVAL):
            try:
                self._ctx.flush()
                if time.monotonic() - last_beat >= self._interval:
                    last_beat = time.monotonic()
                    if self._store.heartbeat(self._ctx.job_id, self._worker):
                        self._ctx.request_cancel()
            except Exception:  # the store is briefly unreachable: try again next tick
                log.warning("heartbeat for %s failed", self._ctx.job_id, exc_info=True)


__all__ = ["JobContext", "Level", "run_job"]
