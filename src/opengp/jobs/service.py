"""The job service: the one place job logic lives.

Every HTTP face (GP, admin, products, OGC, pages) calls this; none talks to
the store or the executor itself.  Store writes run on a thread pool so the
event loop keeps serving while a group commit is in flight.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import AsyncIterator
from typing import Any, Callable, TypeVar

import orjson

from .. import lifecycle
from ..core import (
    Conflict, FileStoreError, InvalidInput, Job, Kind, Message, NotAllowed, NotFound, RequestTooLarge, Status,
    Stored, Unavailable,
)
from ..core.status import OPEN, QUEUED, RUNNING
from ..executors.base import Executor
from ..system.files import UPLOAD_RETENTION
from ..system.logcontext import current_request_id
from ..system.metrics import job_submitted
from ..runtime.storage import FileStore, SharedFolder, Upload
from ..store import JobQuery, Store
from ..store.values import INPUT, PREVIEW
from ..tools.gptypes import FeatureSource, InvalidValue, ParseEnv
from ..tools.registry import Registry, Service
from .signals import JobSignals

log = logging.getLogger("opengp.jobs")
T = TypeVar("T")
_WORKER_KINDS = (Kind.GP, Kind.PRODUCT)        # the kinds that run on workers (admin jobs run here)


class JobService:
    def __init__(self, store: Store, registry: Registry, executor: Executor, data_dir: Path,
                 files: FileStore | None = None, *, signals: JobSignals | None = None,
                 feature_inputs: Callable[[str | None], FeatureSource] | None = None) -> None:
        """``files``: where job files and uploads are kept (default: under ``data_dir``).
        ``signals``: where the executor reports changes (its callbacks were given these).
        ``feature_inputs``: reads ``{"url": ...}`` feature inputs as the submitting user
        (datasets.inputs.submit_inputs); None: such inputs are refused."""
        self.store, self.registry, self.executor, self.data_dir = store, registry, executor, Path(data_dir)
        self.files: FileStore = files if files is not None else SharedFolder(self.data_dir)
        self.signals = signals if signals is not None else JobSignals()
        self.feature_inputs = feature_inputs
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="opengp-store")
        self._inline = bool(getattr(store, "local", False))

    def close(self) -> None:
        """Let the store threads go (the server has stopped taking requests)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call: inline for a local store (microseconds, and the
        event loop is then its only writer), on a thread for a network one."""
        if self._inline:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    # -- lifecycle -----------------------------------------------------------
    async def watch(self, job_id: str, poll: float = 2.0) -> AsyncIterator[Job]:
        """The job now, then again after each change, until it is terminal (live pages).

        This server's executor announces changes at once, and in scale-out mode
        other processes' changes arrive by NOTIFY; the ``poll`` catches what
        those miss (a notification connection that was down)."""
        with self.signals.watching(job_id) as event:
            last: float | None = None
            while True:
                event.clear()
                job = await self.io(self.store.get, job_id)
                if job is None:
                    return
                if job.updated != last:
                    last = job.updated
                    yield job
                if job.status.terminal:
                    return
                try:
                    await asyncio.wait_for(event.wait(), poll)
                except asyncio.TimeoutError:
                    pass

    def recover(self) -> tuple[int, int]:
        """At start: settle jobs a dead process left running (the lifecycle's lost-worker
        policy: cancelled, re-queued within retries, or failed); re-queue jobs that were
        queued.  Returns (interrupted, requeued)."""
        interrupted = requeued = 0
        _, admin = self.store.query(JobQuery(kind=Kind.ADMIN.value, statuses=OPEN, limit=None))
        for job in admin:   # admin operations run on the server's event loop: they died with it
            lifecycle.fail(self.store, job.id, "The server stopped before this operation ended; the service is "
                                               "as its stored configuration says.", only=job.status)
            interrupted += 1
        running = [job for kind in _WORKER_KINDS for job in self.store.query(JobQuery(
            kind=kind.value, statuses=RUNNING, limit=None, oldest_first=True))[1]]
        for job in running:
            service = self.registry.services.get(job.service)
            status = lifecycle.settle_lost(self.store, job, service.config.retries if service is not None else None,
                                           "The server stopped while this job was running.")
            if status is not None and status is not Status.SUBMITTED:     # re-queued: counted below
                interrupted += 1
        queued = sorted((job for kind in _WORKER_KINDS for job in self.store.query(JobQuery(
            kind=kind.value, statuses=QUEUED, limit=None, oldest_first=True))[1]), key=lambda j: j.created)
        for job in queued:
            if job.status is Status.WAITING:
                lifecycle.release(self.store, job.id)
            if job.service in self.registry.services:
                self.executor.submit(job.id, job.service)
                requeued += 1
            else:
                lifecycle.fail(self.store, job.id, f"Service '{job.service}' is no longer published.")
        return interrupted, requeued

    # -- operations -----------------------------------------------------------
    def service(self, key: str) -> Service:
        return self.registry.service(key)

    def jobs_kind(self, service_key: str) -> Kind:
        """The kind of the jobs a service runs: products for a product service, else tool runs."""
        service = self.registry.services.get(service_key)
        return Kind.PRODUCT if service is not None and service.config.is_product else Kind.GP

    async def submit(self, service_key: str, task: str, form: dict[str, Any], *,
                     synchronous: bool | None, owner: str | None = None,
                     options: dict[str, Any] | None = None,
                     kind: Kind = Kind.GP, job_id: str | None = None) -> Job:
        """Validate inputs and queue a job; returns once the job is committed.

        ``synchronous``: the ArcGIS operation that asks (``execute``: True, ``submitJob``: False),
        refused on a service of the other execution type, as ArcGIS does; None: either (OGC API -
        Processes runs every process both ways: docs/ogc.md).  Product jobs (``kind`` product)
        come only from generateProduct, which resolves the request into the product tool's
        inputs itself."""
        service = self.registry.service(service_key)
        spec = service.tool(task)
        if service.config.is_product and kind is not Kind.PRODUCT:
            raise NotAllowed(f"Jobs of '{service.key}' are map products: submit them with generateProduct "
                             f"at {service.key}/TopographicProductionServer/generateProduct.")
        if not service.started:
            raise Unavailable(f"Service '{service.key}' is stopped and accepts no new jobs; "
                              "an administrator can start it again.")
        if synchronous is not None and service.synchronous != synchronous:
            op = "execute" if synchronous else "submitJob"
            kind = "synchronous" if service.synchronous else "asynchronous"
            raise NotAllowed(f"Operation '{op}' is not supported on this {kind} service; use "
                             f"'{'execute' if service.synchronous else 'submitJob'}'.")
        try:
            features = self.feature_inputs(owner) if self.feature_inputs is not None else None
            env = ParseEnv(uploads=self.files.uploads(None), features=features)
            if self.files.remote:   # an itemID costs a LIST request to the object store: not on the event loop
                inputs = await asyncio.to_thread(spec.validate, form, env)
            else:
                inputs = spec.validate(form, env)
        except InvalidValue as exc:
            raise InvalidInput("Invalid or missing input parameters.", str(exc).split("; ")) from None
        job = await self.io(self._insert, Job.new(service.key, spec.name, inputs, owner=owner, options=options,
                                                  kind=kind, retention=service.config.retention, job_id=job_id,
                                                  status=Status.SUBMITTED, first_message="Submitted.",
                                                  # its log lines name the request that submitted it
                                                  request_id=current_request_id()))
        self.executor.submit(job.id, service.key)
        job_submitted(job)
        return job

    def _insert(self, job: Job) -> Job:
        """Store the job stamped by the store as it commits: the admin jobs/query pages by
        creation time up to a ``settled_time``, and a job stamped before it but committed after
        a page was read would slip into the pages after it, shifting them (one job shown twice)."""
        return self.store.create(job, stamp=True)

    async def settled_time(self) -> float:
        """Now, once every job submitted up to now is stored (``Store.settled_time``)."""
        return await self.io(self.store.settled_time)

    async def execute(self, service_key: str, task: str, form: dict[str, Any], *,
                      owner: str | None = None, options: dict[str, Any] | None = None) -> Job:
        """Run a task and wait for it (synchronous services)."""
        service = self.registry.service(service_key)
        job = await self.submit(service_key, task, form, synchronous=True, owner=owner, options=options)
        return await self.wait(job.id, service.execute_wait, self.signals.waiter(job.id))

    async def wait(self, job_id: str, timeout: float, waiter: asyncio.Future[None] | None = None) -> Job:
        """Wait until the job is terminal (or ``timeout`` passes); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status.terminal or time.monotonic() >= deadline:
                return job
            if waiter is None or waiter.done():
                waiter = self.signals.waiter(job_id)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), min(0.5, max(0.0, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                pass

    def find(self, job_id: str) -> Job | None:
        """The job of any kind, or None (for faces that answer "unknown" in their own way)."""
        return self.store.get(job_id)

    def get(self, job_id: str, service_key: str | None = None) -> Job:
        """The job; NotFound if unknown.  With ``service_key``: a job that service's workers run."""
        return self._checked(self.store.get(job_id), job_id, service_key)

    def peek(self, job_id: str, service_key: str | None = None) -> Job:
        """:meth:`get` for showing a job's status: on a scale-out API server an unfinished job
        may be as of a few milliseconds ago (store/cache.py).  Never for deciding anything."""
        return self._checked(self.store.peek(job_id), job_id, service_key)

    @staticmethod
    def _checked(job: Job | None, job_id: str, service_key: str | None) -> Job:
        if job is None or (service_key is not None and (job.service != service_key or job.kind not in _WORKER_KINDS)):
            raise NotFound(f"Job '{job_id}' does not exist or is inaccessible.")
        return job

    async def cancel(self, job_id: str, service_key: str | None = None) -> Job:
        """Cancel a queued job at once; ask a running one to stop (it is killed
        if it does not within a moment).  A finished job is returned unchanged."""
        job = self.get(job_id, service_key)
        if job.status.terminal or job.status is Status.CANCELLING:
            return job
        done = await self.io(lifecycle.cancel, self.store, job)
        if done is None:        # it ended, or another request moved it, meanwhile
            return self.get(job_id)
        self.executor.cancel(job_id)
        if done.status.terminal:
            self.signals.wake(job_id)
        else:
            self.signals.notify(job_id)
        return done

    async def delete(self, job_id: str) -> None:
        """Remove a job and its files, cancelling it first if it still runs.

        Files go first: when the object store fails (FileStoreError), the job stays, so the
        caller hears why and the retention sweep tries again, and no objects are orphaned.
        (A job still running publishes after this; run_job then deletes what it published.
        One that finished publishing between the two may have added files: removed again
        after the row, so none is left without a job.)"""
        job = self.get(job_id)
        if not job.status.terminal:
            await self.cancel(job_id)
        # files can be many and slow to remove: never on the event loop
        await asyncio.to_thread(self.files.delete_job, job.service, job.id)
        await self.io(self.store.delete, job_id)
        if self.files.remote and not job.status.terminal:
            try:
                await asyncio.to_thread(self.files.delete_job, job.service, job.id)
            except FileStoreError as exc:       # the row is gone; nothing points at what is left
                log.warning("objects of deleted job %s may remain in the file store: %s", job_id, exc)

    def query(self, q: JobQuery) -> tuple[int, list[Job]]:
        return self.store.query(q)

    async def query_async(self, q: JobQuery) -> tuple[int, list[Job]]:
        """:meth:`query` from the event loop (on a thread for a network store)."""
        return await self.io(self.store.query, q)

    async def purge_queue(self, service_key: str) -> int:
        """Cancel every job of the service that has not started; returns how many."""
        _, queued = self.query(JobQuery(service=service_key, kind=self.jobs_kind(service_key).value,
                                        statuses=QUEUED, limit=None))
        for job in queued:
            await self.cancel(job.id, service_key)
        return len(queued)

    def statistics(self, service_key: str) -> dict[str, int]:
        """How many jobs the service has: in all, and cancelled, failed, succeeded."""
        def count(*statuses: Status) -> int:
            return self.query(JobQuery(service=service_key, kind=self.jobs_kind(service_key).value,
                                       statuses=frozenset(statuses) or None,
                                       limit=0))[0]

        return {"total": count(), "cancelled": count(Status.CANCELLED), "failed": count(Status.FAILED),
                "succeeded": count(Status.SUCCEEDED)}

    async def dismiss(self, job_id: str) -> Job:
        """OGC's dismiss: cancel the job if it still runs, then remove it and its files,
        remembering its id (until it would have expired) so it reads as gone, not unknown."""
        job = self.get(job_id)
        if not job.status.terminal:
            await self.cancel(job_id)
            job = await self.wait(job_id, 5.0)
        until = job.expires if job.expires is not None else time.time() + 6 * 3600
        await self.io(self.store.remember_dismissed, job_id, job.owner, max(until, time.time() + 3600))
        await self.delete(job_id)
        return job

    def was_dismissed(self, job_id: str) -> tuple[bool, str | None]:
        return self.store.dismissed(job_id)

    async def note(self, job_id: str, message: Message) -> None:
        """Add a message to a job in any state (a finished one keeps its status)."""
        job = await self.io(self.store.get, job_id)
        if job is not None:
            await self.io(lifecycle.note, self.store, job, message)

    async def save_upload(self, filename: str, source: Any, limit: int) -> Upload:
        """Keep an uploaded file (``uploads/upload``) for the jobs that will name its itemID."""
        try:
            return await asyncio.to_thread(self.files.save_upload, filename, source, limit)
        except ValueError as exc:
            raise RequestTooLarge("Upload failed.", [str(exc)]) from None

    async def purge_expired(self) -> int:
        """Delete finished jobs past their retention, with their files (and day-old uploads).
        One process at a time (a database lock in a scale-out deployment): the API servers
        would otherwise all delete the same jobs and objects at once."""
        lock = self.store.try_lock("purge")
        if not await self.io(lock.__enter__):
            await self.io(lock.__exit__, None, None, None)
            return 0
        try:
            return await self._purge_expired()
        finally:
            await self.io(lock.__exit__, None, None, None)

    async def _purge_expired(self) -> int:
        try:
            await asyncio.to_thread(self.files.purge_uploads, time.time() - UPLOAD_RETENTION)
        except FileStoreError as exc:       # the object store is down: next time
            log.warning("purging old uploads failed: %s", exc.message)
        await self.io(self.store.forget_dismissed, time.time())
        ids = await self.io(self.store.expired, time.time())
        for job_id in ids:
            try:
                await self.delete(job_id)
            except NotFound:
                pass
            except FileStoreError as exc:   # the job stays, with its files: the next pass tries again
                log.warning("purging expired jobs stopped: %s", exc.message)
                break
            await asyncio.sleep(0)      # requests go first between deletions
        return len(ids)

    # -- a job's values ---------------------------------------------------------------
    async def kept_apart(self, job_id: str, role: str, name: str) -> bytes:
        """The JSON of a value kept apart from its job (a ``Stored`` in the job: store/values.py),
        read off the event loop, unparsed.  NotFound when it is gone (the job was deleted)."""
        found = await asyncio.to_thread(self.store.values, job_id, role, name)
        if name not in found:
            raise NotFound(f"Job '{job_id}' does not exist or is inaccessible.")
        return found[name]

    async def value_json(self, job: Job, role: str, name: str) -> bytes:
        """The JSON of the job's input or result ``name`` (role ``input`` or ``result``): a
        small one encoded here, a large one as the store keeps it."""
        value = job.inputs[name] if role == INPUT else (job.results or {})[name]["value"]
        return await self.kept_apart(job.id, role, name) if isinstance(value, Stored) else orjson.dumps(value)

    async def previews(self, job: Job) -> dict[str, Any]:
        """What a page shows of each large result: ``{name: preview}`` (store/values.py)."""
        large = [n for n, r in (job.results or {}).items() if isinstance(r.get("value"), Stored)]
        if not large:
            return {}
        kept = await asyncio.to_thread(self.store.values, job.id, PREVIEW)
        return {name: orjson.loads(kept[name]) for name in large if name in kept}

    def require_terminal(self, job: Job) -> None:
        if not job.status.terminal:
            raise Conflict(f"Job '{job.id}' has not finished.")


__all__ = ["JobService", "Kind"]
