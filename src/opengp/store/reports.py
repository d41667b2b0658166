"""Usage report definitions as the admin API left them (``usagereports``): the record, the
ReportStore protocol, its SQL backend and its in-memory one.

The store keeps a definition as JSON and does not read it: what a report must be is the job
layer's (jobs/usage.py); its data is computed from the jobs (store/usage.py), never stored.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from ..core import Conflict, StoreError
from .engine import run
from .tables import usage_reports


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One usage report: its name (unique) and its definition (ArcGIS's fields but the name)."""

    name: str
    definition: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None
    created: float = 0.0
    updated: float = 0.0

    def evolve(self, **changes: Any) -> StoredReport:
        return dataclasses.replace(self, **changes)


class ReportStore(Protocol):
    def list(self) -> list[StoredReport]:
        """Every report, by name."""

    def get(self, name: str) -> StoredReport | None: ...

    def add(self, report: StoredReport) -> None:
        """Insert; ``Conflict`` when a report has that name."""

    def replace(self, report: StoredReport) -> None:
        """Overwrite the report of that name; ``StoreError`` when there is none."""

    def remove(self, name: str) -> bool: ...


def name_taken(name: str) -> Conflict:
    return Conflict(f"A usage report named '{name}' already exists.")


def _row(report: StoredReport) -> dict[str, Any]:
    return {"name": report.name, "definition": orjson.dumps(report.definition).decode(), "owner": report.owner,
            "created": report.created, "updated": report.updated}


def _record(row: Row) -> StoredReport:
    m = row._mapping
    return StoredReport(m["name"], orjson.loads(m["definition"]), m["owner"], m["created"], m["updated"])


class SqlReportStore:
    """Report definitions over the job store's engine (migrations already applied by SqlStore).
    ``writer``: SQLite's one writer's lock (the job store's), so these writes queue behind job
    writes instead of fighting them for the file."""

    def __init__(self, engine: Engine, writer: Any = None) -> None:
        self.engine, self._writer = engine, writer

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="usage report", writer=self._writer)

    def list(self) -> list[StoredReport]:
        stmt = select(usage_reports).order_by(usage_reports.c.name)
        return self._run(lambda c: [_record(r) for r in c.execute(stmt)])

    def get(self, name: str) -> StoredReport | None:
        row = self._run(lambda c: c.execute(select(usage_reports).where(usage_reports.c.name == name)).first())
        return None if row is None else _record(row)

    def add(self, report: StoredReport) -> None:
        try:
            self._run(lambda c: c.execute(insert(usage_reports), _row(report)), write=True)
        except IntegrityError:
            raise name_taken(report.name) from None

    def replace(self, report: StoredReport) -> None:
        values = _row(report)
        del values["name"]
        stmt = update(usage_reports).where(usage_reports.c.name == report.name).values(**values)
        if self._run(lambda c: c.execute(stmt).rowcount, write=True) != 1:
            raise StoreError(f"usage report '{report.name}' vanished while it was being changed")

    def remove(self, name: str) -> bool:
        stmt = delete(usage_reports).where(usage_reports.c.name == name)
        return self._run(lambda c: c.execute(stmt).rowcount == 1, write=True)


class MemoryReportStore:
    """Report definitions in a dict, behaving as the SQL store does."""

    def __init__(self) -> None:
        self._reports: dict[str, StoredReport] = {}
        self._lock = threading.Lock()

    def list(self) -> list[StoredReport]:
        with self._lock:
            return [self._reports[n] for n in sorted(self._reports)]

    def get(self, name: str) -> StoredReport | None:
        return self._reports.get(name)

    def add(self, report: StoredReport) -> None:
        with self._lock:
            if report.name in self._reports:
                raise name_taken(report.name)
            self._reports[report.name] = report

    def replace(self, report: StoredReport) -> None:
        with self._lock:
            if report.name not in self._reports:
                raise StoreError(f"usage report '{report.name}' vanished while it was being changed")
            self._reports[report.name] = report

    def remove(self, name: str) -> bool:
        with self._lock:
            return self._reports.pop(name, None) is not None


def open_reports(job_store: Any) -> ReportStore:
    """The report definitions beside a job store: SQL on its engine, or the in-memory store's own."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        return job_store.reports
    return SqlReportStore(engine, job_store.writer())
