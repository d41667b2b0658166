"""run_job: the one code path that executes a job, in any worker.

It claims the job (compare-and-set, so a redelivered job never runs twice),
heartbeats while the tool runs, and writes results, messages and the final
status in one transition.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from .. import lifecycle
from ..core import Job, Level, Message, Status, Stored, StoreUnavailable
from ..store import Store
from ..store.values import INPUT, Encoded, encode_results
from ..tools.gptypes import DumpEnv, FeatureSource, ParseEnv
from ..tools.registry import Registry
from ..tools.context import FLUSH_INTERVAL, JobContext
from ..system.files import job_dir, job_files_url
from ..system.logcontext import job_scope
from .storage import FileStore, SharedFolder

log = logging.getLogger("opengp.runtime")
# pauses between attempts to record a job's end while the store is unreachable (~16 s of them:
# a database restart).  A Celery worker's supervisor renews the job's lease meanwhile, whenever
# the database answers it.
END_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%A, %B %d, %Y %H:%M:%S")


def run_job(
    job_id: str | Job,
    store: Store,
    registry: Registry,
    data_dir: Path,
    *,
    worker: str,
    heartbeat_interval: float = 5.0,
    on_context: Callable[[JobContext | None], None] | None = None,
    features: FeatureSource | None = None,
    files: FileStore | None = None,
) -> Status | None:
    """Run one job to its end.  Returns its final status, or None if not claimed.

    ``job_id`` may be a Job its caller already claimed for ``worker`` (the
    local executor claims as it dispatches, saving the worker a round trip).
    ``features`` reads feature inputs given by URL (checked at submit).
    ``files``: where job files are kept (default: ``data_dir`` itself). With object
    storage the tool's folder is published there before the final status is written,
    and a job that cannot publish its outputs fails, saying why.
    """
    job = job_id if isinstance(job_id, Job) else store.claim(job_id, worker)
    if job is None:
        return None
    # every line logged while it runs (the tool's own, the runtime's) is about this job
    with job_scope(job.id, job.request_id, job.service, job.owner):
        return _run_claimed(job, store, registry, data_dir, worker, heartbeat_interval, on_context, features,
                            files if files is not None else SharedFolder(data_dir))


def _run_claimed(job: Job, store: Store, registry: Registry, data_dir: Path, worker: str, heartbeat_interval: float,
                 on_context: Callable[[JobContext | None], None] | None, features: FeatureSource | None,
                 files: FileStore) -> Status | None:
    start = time.time()
    try:
        service = registry.service(job.service)
        spec = service.tool(job.task)
    except Exception as exc:
        return _finish(store, job, Status.FAILED, error=str(exc), messages=[])
    workdir = job_dir(data_dir, job.service, job.id)   # created when the tool first asks for it
    ctx = JobContext(job.id, store, workdir)
    ctx.info(f"Executing ({job.task}): start time {_stamp(start)}")
    if on_context:
        on_context(ctx)
    beat = _HEARTBEATS.add(ctx, store, worker, heartbeat_interval)
    status, fields = Status.SUCCEEDED, {}
    try:    # the lease is renewed until the files are stored, however long that takes
        try:
            kwargs: dict[str, Any] = spec.load(_inputs(store, job), ParseEnv(
                workdir=workdir, uploads=files.uploads(workdir.parent), features=features))
            if spec.context_arg:
                kwargs[spec.context_arg] = ctx
            returned = spec.func(**kwargs)
            env = DumpEnv(out_sr=job.options.get("out_sr"), workdir=workdir,
                          files_url=job_files_url(job.options.get("base_url"), job.service, job.id))
            fields["results"] = _encoded(spec.dump(returned, env), service.config.max_result_bytes)
        except Exception as exc:
            if not ctx.cancelled:
                text = str(exc) or type(exc).__name__
                # SEVERE in logs/query, as ArcGIS Server logs a failed geoprocessing job
                log.error("job %s (%s/%s) failed: %s", job.id, job.service, job.task, text, exc_info=True)
                ctx.error(text)
                ctx.error(f"Failed to execute ({job.task}).")
                status, fields = Status.FAILED, {"error": text}
        if ctx.cancelled:
            status = Status.CANCELLED
        status, fields = _store_files(files, job, ctx, status, fields)
    finally:
        _HEARTBEATS.remove(beat)
        if on_context:
            on_context(None)
    if status is Status.CANCELLED:
        return _cancelled(store, job, ctx, files)
    if status is Status.FAILED:
        return _finish(store, job, Status.FAILED, messages=ctx.take_pending()[0], files=files, **fields)
    end = time.time()
    ctx.info(f"Succeeded at {_stamp(end)} (Elapsed Time: {end - start:.2f} seconds)")
    messages, progress = ctx.take_pending()
    if progress is not None:
        fields["progress"] = progress
    return _finish(store, job, Status.SUCCEEDED, messages=messages, files=files, **fields)


def _inputs(store: Store, job: Job) -> dict[str, Any]:
    """The job's inputs, the large ones read back from the store (``store/values.py``)."""
    if not any(isinstance(v, Stored) for v in job.inputs.values()):
        return job.inputs
    kept = store.values(job.id, INPUT)
    missing = [name for name, v in job.inputs.items() if isinstance(v, Stored) and name not in kept]
    if missing:
        raise RuntimeError(f"The job store has lost the value of input(s) {', '.join(missing)}.")
    return {name: orjson.loads(kept[name]) if isinstance(v, Stored) else v for name, v in job.inputs.items()}


def _encoded(results: dict[str, Any], limit: int) -> Encoded:
    """The tool's results as the store keeps them (JSON, the large ones apart), made here in the
    worker: a big result crosses a local worker's pipe as bytes, never as Python objects the
    server would have to build.  Larger in all than the service allows: the job fails, saying so
    (its work is never silently cut)."""
    try:
        encoded = encode_results(results)
    except TypeError as exc:
        raise ValueError(f"The tool's results cannot be stored as JSON: {exc}.") from None
    if encoded.size > limit:
        raise ValueError(f"The tool's results are {_megabytes(encoded.size)}, more than this service keeps "
                         f"({_megabytes(limit)}: its max_result_bytes); they were not kept.")
    return encoded


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1_000_000 else f"{size:,} bytes"


def _store_files(files: FileStore, job: Job, ctx: JobContext, status: Status,
                 fields: dict[str, Any]) -> tuple[Status, dict[str, Any]]:
    """Object storage: publish the tool's folder (succeeded or failed: a failed tool's files
    may say why; a cancelled job's are dropped). A job that cannot store its results fails."""
    if not files.remote:
        return status, fields
    if status is Status.CANCELLED:
        files.discard_local(job.service, job.id)
        return status, fields
    try:
        files.publish_job(job.service, job.id)
        return status, fields
    except Exception as exc:
        files.discard_local(job.service, job.id)
        text = str(exc) or type(exc).__name__
        log.warning("job %s: %s", job.id, text)
        if status is Status.SUCCEEDED:
            ctx.error(text)
            ctx.error(f"Failed to execute ({job.task}).")
            return Status.FAILED, {"error": text}
        ctx.warning(text)
        return status, fields


def _cancelled(store: Store, job: Job, ctx: JobContext, files: FileStore | None = None) -> Status | None:
    ctx.warning("Cancelled by request.")
    return _finish(store, job, Status.CANCELLED, messages=ctx.take_pending()[0], files=files)


def _finish(store: Store, job: Job, status: Status, *, messages: list[Message], files: FileStore | None = None,
            **fields: Any) -> Status | None:
    """End the job as ``status`` unless someone else ended it first; returns how it ended."""
    done = _record_end(store, job, status, messages, fields)
    if done is None:  # someone else (cancel, timeout, reaper) already ended it
        current = store.get(job.id)
        if current is None and files is not None and files.remote:
            _forget_files(files, job)       # deleted while it ran: what it just published is nobody's
        return current.status if current else None
    return done.status      # the status asked for, or failed if that could not be recorded


def _record_end(store: Store, job: Job, status: Status, messages: list[Message], fields: dict[str, Any]) -> Job | None:
    """The final transition, which must not be lost: a worker whose write failed would keep the
    job executing with its results gone.  Tried again while the store is unreachable (a
    compare-and-set on the status and on this worker: an attempt that did commit, or a job the
    reconciler has since given to another worker, makes the next a no-op); if the store still
    cannot take it, or refuses it (text it cannot encode), the job is failed without its
    results, the details going to the log.  Raises only when even that cannot be written."""
    finished = time.time()
    failure: Exception | None = None
    for pause in (*END_RETRY_PAUSES, None):
        try:
            return lifecycle.end(store, job.id, status, worker=job.worker, finished=finished, messages=messages,
                                 **fields)
        except StoreUnavailable as exc:
            failure = exc
            if pause is None:
                break
            log.warning("job %s: recording its end failed (%s); trying again in %g s", job.id, exc, pause)
            time.sleep(pause)
        except Exception as exc:        # a refusal (what the store cannot encode or hold): the same again
            failure = exc
            break
    log.error("job %s: its end (%s) could not be recorded: %s", job.id, status.value, failure)
    why = (f"The job ended ({status.value}) but the job store could not record its end"
           f"{'' if isinstance(failure, StoreUnavailable) else ' (it refused the results or messages)'}.")
    return lifecycle.end(store, job.id, Status.FAILED, worker=job.worker, finished=finished, error=why,
                         messages=[Message.now("error", why)])


def _forget_files(files: FileStore, job: Job) -> None:
    try:
        files.delete_job(job.service, job.id)
    except Exception:
        log.warning("job %s was deleted while it ran; its stored files were not", job.id, exc_info=True)


class _Beat:
    """One running job's lease, buffered reports and cancel flag."""

    def __init__(self, ctx: JobContext, store: Store, worker: str, interval: float) -> None:
        self.ctx, self.store, self.worker, self.interval = ctx, store, worker, interval
        self.last_beat = time.monotonic()
        self.lock = threading.Lock()      # held while ticking, so removal waits for a tick in flight

    def tick(self) -> None:
        with self.lock:
            if self.ctx is None:
                return
            try:
                self.ctx.flush()
                if time.monotonic() - self.last_beat >= self.interval:
                    self.last_beat = time.monotonic()
                    if self.store.heartbeat(self.ctx.job_id, self.worker):
                        self.ctx.request_cancel()
            except Exception:  # the store is briefly unreachable: try again next tick
                log.warning("heartbeat for %s failed", self.ctx.job_id, exc_info=True)


class _Heartbeats:
    """One thread per process renews leases, flushes reports and notices cancels
    for every job running in it (no thread start per job)."""

    def __init__(self) -> None:
        self._beats: set[_Beat] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, ctx: JobContext, store: Store, worker: str, interval: float) -> _Beat:
        beat = _Beat(ctx, store, worker, interval)
        with self._lock:
            self._beats.add(beat)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="opengp-heartbeat", daemon=True)
                self._thread.start()
        return beat

    def remove(self, beat: _Beat) -> None:
        with self._lock:
            self._beats.discard(beat)
        with beat.lock:
            beat.ctx = None

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            with self._lock:
                beats = list(self._beats)
            for beat in beats:
                beat.tick()


_HEARTBEATS = _Heartbeats()


__all__ = ["JobContext", "Level", "run_job"]
