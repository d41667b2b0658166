"""The local executor: a pool of warm worker processes on this machine.

A job never pays for a process start.  The executor lives on the server's
event loop: it reads its workers' pipes with ``add_reader`` and answers their
store calls right there, so the server process stays the only SQLite writer
and no thread has to wait for the GIL to pass a message along.

A job that must stop (cancelled past its grace period, or over the service's
``max_usage_time``) has its process killed and replaced; a worker that dies
on its own fails (or re-queues) the job it held.  Per-service
``max_instances`` holds extra jobs back as ``waiting``, first in first out.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .. import lifecycle
from ..config import Settings
from ..core import Status
from ..store import Store
from ..system.logcontext import job_scope
from ..system.logsetup import stderr_level
from ..system.metrics import set_slots
from ..tools.registry import Registry
from .base import DoneCallback
from .worker import RUN_TAG, slot_name, worker_main

log = logging.getLogger("opengp.executor")
CANCEL_GRACE = 0.5      # seconds a cooperative tool gets to stop before its process is killed
TICK = 0.05             # how often running jobs are checked against their limits
_CHANGES = frozenset({"report", "transition"})      # worker store calls that change what a job shows


@dataclass
class _Slot:
    """One worker process and what it is doing."""

    process: Any
    cmd: Connection
    rpc: Connection
    job_id: str | None = None
    service: str | None = None
    since: float = 0.0
    kill_at: float | None = None        # cancel grace deadline
    killed: bool = False
    ready: bool = False                 # imported and listening: its job's usage time may start


class LocalExecutor:
    """All methods run on the event loop that called :meth:`start`."""

    def __init__(self, store: Store, registry: Registry, settings: Settings,
                 on_done: DoneCallback | None = None, on_change: DoneCallback | None = None,
                 on_logs: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        """``on_logs``: takes the log records workers send for the store (``jobs/logs.ServerLog``)."""
        self.store, self.registry, self.settings = store, registry, settings
        self.on_done = on_done or (lambda job_id: None)
        self.on_change = on_change or (lambda job_id: None)
        self.on_logs = on_logs or (lambda rows: None)
        self._ctx = mp.get_context("spawn")
        self._pending: deque[tuple[str, str]] = deque()     # (job_id, service), FIFO
        self._waiting: set[str] = set()
        self._slots: list[_Slot] = []
        self._running: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self._shown: tuple[int, int] | None = None

    # -- Executor protocol ---------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(self.settings.workers):
            self._slots.append(self._spawn())
        self._timer = self._loop.call_later(TICK, self._watch)
        self._dispatch()   # jobs recovered from the store before the workers existed

    def stop(self) -> None:
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        for slot in self._slots:
            self._forget(slot)
            self._send(slot, ("stop",))
        deadline = time.monotonic() + 2
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(1)

    def submit(self, job_id: str, service: str) -> None:
        self._pending.append((job_id, service))
        self._dispatch()

    def cancel(self, job_id: str) -> None:
        for item in self._pending:
            if item[0] == job_id:
                self._pending.remove(item)
                self._waiting.discard(job_id)
                self._dispatch()
                return
        slot = self._slot_of(job_id)
        if slot is not None and slot.kill_at is None:
            slot.kill_at = time.monotonic() + CANCEL_GRACE
            self._send(slot, ("cancel", job_id))

    def services_changed(self) -> None:
        """A service was edited, started or stopped: its limits may let waiting jobs run."""
        self._dispatch()

    # -- workers ---------------------------------------------------------
    def worker_pids(self) -> list[int]:
        return [s.process.pid for s in self._slots]

    def _spawn(self) -> _Slot:
        cmd_parent, cmd_child = self._ctx.Pipe()
        rpc_parent, rpc_child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main,
            args=(cmd_child, rpc_child, self.settings.model_dump_json(), str(self.settings.data_dir), RUN_TAG,
                  stderr_level()),
            name="opengp-worker", daemon=True,
        )
        process.start()
        cmd_child.close()
        rpc_child.close()
        slot = _Slot(process, cmd_parent, rpc_parent)
        assert self._loop is not None
        self._loop.add_reader(rpc_parent.fileno(), self._on_readable, slot)
        # uvloop makes a watched fd non-blocking; a message larger than the pipe's buffer
        # (a big result) would then break off mid-read.  The worker writes each message
        # whole, so a blocking read of the rest is short.
        os.set_blocking(rpc_parent.fileno(), True)
        return slot

    def _forget(self, slot: _Slot) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(slot.rpc.fileno())
            except (OSError, ValueError):
                pass

    def _send(self, slot: _Slot, message: tuple) -> None:
        try:
            slot.cmd.send(message)
        except (OSError, ValueError):
            pass  # the process is gone; its EOF replaces it

    def _slot_of(self, job_id: str) -> _Slot | None:
        return next((s for s in self._slots if s.job_id == job_id), None)

    def _on_readable(self, slot: _Slot) -> None:
        """Answer a worker's store calls; notice when it has finished or died."""
        try:
            while slot.rpc.poll():
                msg = slot.rpc.recv()
                if msg[0] == "call":
                    _, method, args, kwargs = msg
                    try:
                        reply = (True, getattr(self.store, method)(*args, **kwargs))
                    except Exception as exc:
                        reply = (False, exc)
                    slot.rpc.send(reply)
                    if method in _CHANGES and args:
                        self.on_change(args[0])     # live pages hear of progress and messages at once
                elif msg[0] == "logs":
                    self.on_logs(msg[1])
                elif msg[0] == "ready":
                    slot.ready = True
                    self._dispatch()
                elif msg[0] == "done" and slot.job_id == msg[1]:
                    job_id = self._release(slot)
                    if job_id:
                        self.on_done(job_id)
                    self._dispatch()
        except (EOFError, OSError):
            self._worker_gone(slot)

    def _worker_gone(self, slot: _Slot) -> None:
        self._forget(slot)
        slot.process.join(1)
        code = slot.process.exitcode
        job_id, service = slot.job_id, slot.service
        self._release(slot)
        if slot in self._slots:
            self._slots.remove(slot)
        if job_id is not None and not slot.killed:
            with job_scope(job_id, service=service):
                try:
                    self._lost(job_id, service or "", code)
                except Exception:       # the store failing too: the process is replaced all the same
                    log.exception("job %s: settling it after its worker process ended failed", job_id)
        if not self._stopping:
            self._slots.append(self._spawn())
            self._dispatch()
        if job_id is not None:
            self.on_done(job_id)

    def _lost(self, job_id: str, service: str, code: int | None) -> None:
        """A worker died under a job: a job it had not started goes back to the queue; one it
        ran is settled by the lifecycle's lost-worker policy (re-queued here within retries)."""
        job = self.store.get(job_id)
        if job is None or job.status.terminal:
            return
        if job.status.queued:
            self._pending.appendleft((job_id, service))
            return
        log.warning("job %s: the worker process running it died (exit code %s)", job_id, code)
        svc = self.registry.services.get(service)
        why = f"The worker process running this job died unexpectedly (exit code {code})."
        if lifecycle.settle_lost(self.store, job, svc.config.retries if svc is not None else None,
                                 why) is Status.SUBMITTED:
            self._pending.appendleft((job_id, service))

    # -- scheduling --------------------------------------------------------
    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers, oldest first, honouring max_instances."""
        if self._stopping:
            return
        try:
            self._hand_out()
        finally:
            self._show_slots()

    def _show_slots(self) -> None:
        """The pool's busy and free worker processes, as metrics (when they changed)."""
        busy = sum(1 for s in self._slots if s.job_id is not None)
        free = sum(1 for s in self._slots if s.job_id is None and s.ready and not s.killed)
        if (busy, free) != self._shown:
            self._shown = (busy, free)
            set_slots("local", busy, free)

    def _hand_out(self) -> None:
        idle = [s for s in self._slots if s.job_id is None and not s.killed and s.ready]
        for item in list(self._pending):
            job_id, service = item
            limit = self._limit(service)
            if limit is not None and self._running[service] >= limit:
                if job_id not in self._waiting:
                    self._waiting.add(job_id)
                    lifecycle.wait(self.store, job_id)
                continue
            if not idle:
                break
            self._pending.remove(item)
            self._waiting.discard(job_id)
            # Claimed here, so the worker starts at once without a store round trip.
            job = self.store.claim(job_id, slot_name(idle[-1].process.pid))
            if job is None:
                continue    # cancelled (or taken) while it waited
            self.on_change(job_id)
            slot = idle.pop()
            slot.job_id, slot.service, slot.since, slot.kill_at = job_id, service, time.monotonic(), None
            self._running[service] += 1
            svc = self.registry.services.get(service)
            # the service's settings travel with the job: workers serve services published after they started
            self._send(slot, ("run", job, svc.config_json if svc is not None else None))

    def _limit(self, service: str) -> int | None:
        svc = self.registry.services.get(service)
        return svc.config.max_instances if svc is not None else None

    def _release(self, slot: _Slot) -> str | None:
        """Mark the slot idle; returns the job it held."""
        job_id = slot.job_id
        if job_id is not None and slot.service is not None:
            self._running[slot.service] -= 1
        slot.job_id = slot.service = None
        slot.kill_at = None
        return job_id

    def _watch(self) -> None:
        """Stop jobs past their cancel grace period or their service's max_usage_time."""
        now = time.monotonic()
        for slot in list(self._slots):
            job_id, service = slot.job_id, slot.service
            if job_id is None or service is None or slot.killed:
                continue
            svc = self.registry.services.get(service)
            why = lifecycle.must_stop(now, slot.since, svc.config.max_usage_time if svc is not None else float("inf"),
                                      slot.kill_at)
            if why is not None:
                self._stop(slot, job_id, why)
        if not self._stopping and self._loop is not None:
            self._timer = self._loop.call_later(TICK, self._watch)

    def _stop(self, slot: _Slot, job_id: str, why: lifecycle.Stop) -> None:
        if lifecycle.stop(self.store, job_id, why) is None:
            slot.kill_at = None
            return  # it finished on its own meanwhile
        slot.killed = True
        slot.process.kill()
