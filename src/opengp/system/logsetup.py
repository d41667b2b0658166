"""The one logging set-up of every opengp process: ``opengp serve`` (and its server
processes), the local worker processes, ``opengp worker`` (Celery) and its pool children.

- Every record is stamped, as it is made, with the job and request it is about
  (``logcontext.py``): ``record.job_id``, ``record.request_id``, ``record.service``,
  ``record.user`` (None when not known).
- Lines go to stderr as text (``time LEVEL logger: message``, with ``[job … request …]``
  when about a job or a request) or, with ``log_format = "json"``, as one JSON object a line:
  ``time``, ``level``, ``logger``, ``message``, ``process``, and ``job_id``, ``request_id``,
  ``service`` when known, ``exception`` with a traceback.
- A process that keeps a log in the store adds a :class:`logqueue.BatchHandler` with
  :func:`attach_store` (its own threshold: ``log_store_level``).
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from .logcontext import JOB, REQUEST_ID
from .logqueue import BatchHandler, Sink

# ArcGIS Server's log levels (admin API logs/query, logs/settings), most severe first, as Python
# levels.  A Python record is named by the first level it reaches (ERROR and CRITICAL: SEVERE).
LEVELS: dict[str, int] = {"SEVERE": logging.ERROR, "WARNING": logging.WARNING, "INFO": logging.INFO,
                          "FINE": 15, "VERBOSE": 12, "DEBUG": logging.DEBUG}
OFF = "OFF"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(about)s"
_STDERR = "opengp-stderr"       # the name of the handler this module installs (replaced, never doubled)


def level_name(level: int) -> str:
    """The ArcGIS name of a Python level (``logging.ERROR`` -> ``SEVERE``)."""
    for name, number in LEVELS.items():
        if level >= number:
            return name
    return "DEBUG"


def level_number(name: str) -> int | None:
    """``SEVERE`` ... ``DEBUG`` (any case) as a Python level; ``OFF``: None.  ValueError otherwise."""
    upper = name.strip().upper()
    if upper == OFF:
        return None
    if upper not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join([*LEVELS, OFF])}")
    return LEVELS[upper]


def _install_record_factory() -> None:
    """Stamp the job and request on every record where it is made (the emitting thread's context)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "opengp", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        job = JOB.get()
        if job is None:
            record.job_id = record.service = record.user = None
            record.request_id = REQUEST_ID.get()
        else:
            record.job_id, record.service, record.user = job.job_id, job.service, job.user
            record.request_id = job.request_id or REQUEST_ID.get()
        return record

    factory.opengp = True       # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class TextFormatter(logging.Formatter):
    """The classic line, with the job and request it is about appended."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        job, request = getattr(record, "job_id", None), getattr(record, "request_id", None)
        about = [f"job {job}"] if job else []
        if request:
            about.append(f"request {request}")
        record.about = f" [{', '.join(about)}]" if about else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log shippers (Loki, Elasticsearch, CloudWatch...)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": record.process}
        for key in ("job_id", "request_id", "service"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(log_level: str, log_format: str = "text") -> None:
    """This process's logging: lines at ``log_level`` and above (``debug``, ``info``, ``warning``,
    ``error``) to stderr, as ``text`` or ``json``.  Called again, it replaces its handler."""
    _install_record_factory()
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {log_level!r}; use debug, info, warning or error")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _STDERR]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_STDERR)
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(min([level] + [h.level for h in root.handlers if isinstance(h, BatchHandler)]))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, level))


def stderr_level() -> str:
    """The level of this process's stderr lines (``warning`` if not configured), for the
    processes it starts."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _STDERR:
            return logging.getLevelName(handler.level).lower()
    return "warning"


def attach_store(sink: Sink, level: int, *, capacity: int = 10_000) -> BatchHandler:
    """Keep this process's records at ``level`` and above in the store: queued, written by
    ``sink`` in batches from a thread of their own (``logqueue.BatchHandler``).  The root
    logger is opened down to ``level`` if it was closer; stderr keeps its own level."""
    _install_record_factory()
    handler = BatchHandler(sink, level, capacity=capacity)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handler


def detach_store(handler: BatchHandler) -> None:
    """Write what is queued and stop keeping records."""
    logging.getLogger().removeHandler(handler)
    handler.close()
