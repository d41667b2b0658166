"""The local worker process: runs jobs it is sent, talks to the store over a pipe.

The server process stays the only writer of the SQLite file; a worker's
store calls travel as small messages (``_PipeStore``) and come back with the
result.  The same ``run_job`` runs here as in a Celery worker.
"""
from __future__ import annotations

import os
import queue
import secrets
import socket
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..tools.context import JobContext
from ..system.urls import set_policy


class _PipeStore:
    """The part of the Store protocol run_job needs, forwarded to the server."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._conn.send(("call", method, args, kwargs))
            ok, value = self._conn.recv()
        if not ok:
            raise value
        return value

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *a, **k: self._call(method, *a, **k)

    def notify(self, *message: Any) -> None:
        with self._lock:
            self._conn.send(message)


_HOST = socket.gethostname()
# This start of the process tree.  A later run on the same host (a container restarted
# with the same hostname) can get the same pids; without this, its processes would renew
# the leases of the earlier run's jobs, which would then never be found lost.  Forked
# children (Celery's pool) inherit it; spawned local workers are handed it.
RUN_TAG = secrets.token_hex(3)


def slot_name(pid: int, run_tag: str = RUN_TAG) -> str:
    """The ``worker`` a job records: ``host:pid.run`` (the host is what precedes the last colon)."""
    return f"{_HOST}:{pid}.{run_tag}"


def worker_main(cmd: Connection, rpc: Connection, settings_json: str, data_dir: str, run_tag: str,
                log_level: str = "warning") -> None:
    """Entry point of a worker process (spawned, so it imports fresh: ``run_tag`` is the server's,
    ``log_level`` its stderr's)."""
    from ..config import ServiceConfig, Settings
    from ..runtime.run import run_job
    from ..runtime.storage import open_file_store
    from ..tools.registry import Registry, load_service

    settings = Settings.model_validate_json(settings_json)
    store = _PipeStore(rpc)
    _log_to_server(store, settings, log_level)
    set_policy(allow_private=settings.allow_private_urls, max_bytes=settings.max_upload_bytes)
    registry = Registry.from_settings(settings)
    loaded = {c.key: c.model_dump_json() for c in settings.services}
    features = _Layers(settings)
    files = open_file_store(settings)       # the shared data_dir, or object storage (files_url)

    def use_service(key: str, config_json: str | None) -> None:
        """Publish the service as the server has it now (it may have been edited or created since)."""
        if config_json is None:     # no longer published: run_job fails the job, saying so
            registry.remove(key)
            loaded.pop(key, None)
            return
        config = ServiceConfig.model_validate_json(config_json)
        if loaded.get(config.key) != config_json:
            registry.put(load_service(config, settings.config_dir))
            loaded[config.key] = config_json

    name = slot_name(os.getpid(), run_tag)
    todo: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
    current: list[JobContext | None] = [None]

    def listen() -> None:
        while True:
            try:
                op, *args = cmd.recv()
            except (EOFError, OSError):
                todo.put(None)
                return
            if op == "run":
                todo.put(args)
            elif op == "cancel":
                ctx = current[0]
                if ctx is not None and ctx.job_id == args[0]:
                    ctx.request_cancel()
            elif op == "stop":
                todo.put(None)
                return

    threading.Thread(target=listen, name="opengp-worker-commands", daemon=True).start()
    store.notify("ready", os.getpid())
    while (item := todo.get()) is not None:
        job, config_json = item
        try:
            use_service(job.service, config_json)
        except Exception:   # run_job fails the job, saying why
            registry.remove(job.service)
            loaded.pop(job.service, None)
        try:
            run_job(job, store, registry, Path(data_dir), worker=name,
                    heartbeat_interval=settings.heartbeat_interval,
                    on_context=lambda c: current.__setitem__(0, c), features=features, files=files)
        except Exception:
            # run_job ends every job unless not even a failure could be recorded.  Saying "done"
            # would let the server hand this process another job; exiting makes the server
            # settle this one as lost (LocalExecutor._lost), as a Celery worker's supervisor does.
            traceback.print_exc()
            os._exit(os.EX_SOFTWARE)
        store.notify("done", job.id)


def _log_to_server(store: _PipeStore, settings: Any, log_level: str) -> None:
    """Lines to the server's stderr (inherited) in its format; the records the store keeps go
    over the pipe to the server, which writes them with its own (the only SQLite writer)."""
    from ..system.logsetup import attach_store, configure_logging, level_number

    configure_logging(log_level, settings.log_format)
    level = level_number(settings.log_store_level)
    if level is not None:
        attach_store(lambda rows: store.notify("logs", rows), level)


class _Layers:
    """Feature inputs by URL (``ParseEnv.features``), set up on first use: the datasets
    code and geopandas load only in a worker that runs such a job."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._inputs: Any = None

    def _get(self) -> Any:
        if self._inputs is None:
            from ..datasets.catalog import Catalog
            from ..datasets.inputs import LayerInputs

            self._inputs = LayerInputs(Catalog(self.settings), allow_private=self.settings.allow_private_urls)
        return self._inputs

    def check(self, url: str) -> None:
        self._get().check(url)

    def read(self, url: str) -> Any:
        return self._get().read(url)
