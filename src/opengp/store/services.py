"""Published services as the admin API left them: the ServiceStore protocol,
its in-memory fake and SQL backend.

The config file seeds this table; from then on the store is what a server
(and every other server of the deployment) publishes, so admin changes
survive restarts.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from ..config import ServiceConfig
from ..core import Conflict, StoreError
from .engine import run
from .tables import services

STARTED, STOPPED = "STARTED", "STOPPED"
DELETED = "DELETED"      # a config-file service deleted over the API: the file must not bring it back


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """One service's settings and state, as stored."""

    config: ServiceConfig
    state: str = STARTED
    owner: str | None = None          # the publisher who created it; None for the config file's
    origin: str = "admin"             # "config": from the config file; "admin": created over the API
    config_digest: str | None = None  # the config file entry it was last imported from
    created: float = 0.0
    updated: float = 0.0

    @property
    def key(self) -> str:
        return self.config.key

    def evolve(self, **changes: Any) -> ServiceRecord:
        return dataclasses.replace(self, **changes)


class ServiceStore(Protocol):
    def add(self, record: ServiceRecord) -> None:
        """Insert a new service; Conflict if the key is taken."""

    def get(self, key: str) -> ServiceRecord | None: ...

    def list(self) -> list[ServiceRecord]:
        """Every service, by key."""

    def replace(self, record: ServiceRecord) -> None:
        """Overwrite an existing service's record (stamps ``updated``)."""

    def remove(self, key: str) -> bool: ...

    def version(self) -> tuple[int, float, float]:
        """(how many services, latest and sum of ``updated``): cheap, to notice another server's
        change (the sum too: a server whose clock runs behind writes an older ``updated``)."""


class MemoryServiceStore:
    """The fake, beside the in-memory job store."""

    def __init__(self) -> None:
        self._records: dict[str, ServiceRecord] = {}
        self._lock = threading.Lock()

    def add(self, record: ServiceRecord) -> None:
        with self._lock:
            if record.key in self._records:
                raise Conflict(f"Service '{record.key}' already exists.")
            self._records[record.key] = record

    def get(self, key: str) -> ServiceRecord | None:
        return self._records.get(key)

    def list(self) -> list[ServiceRecord]:
        return [self._records[k] for k in sorted(self._records)]

    def replace(self, record: ServiceRecord) -> None:
        with self._lock:
            self._records[record.key] = record.evolve(updated=time.time())

    def remove(self, key: str) -> bool:
        with self._lock:
            return self._records.pop(key, None) is not None

    def version(self) -> tuple[int, float, float]:
        updated = [r.updated for r in self._records.values()]
        return len(updated), max(updated, default=0.0), sum(updated)


def _to_row(record: ServiceRecord) -> dict[str, Any]:
    return {"key": record.key, "config": record.config.model_dump_json(), "state": record.state,
            "owner": record.owner, "origin": record.origin, "config_digest": record.config_digest,
            "created": record.created, "updated": record.updated}


def _from_row(row: Row | dict[str, Any]) -> ServiceRecord:
    m = row._mapping if isinstance(row, Row) else row
    return ServiceRecord(config=ServiceConfig.model_validate_json(m["config"]), state=m["state"],
                         owner=m["owner"], origin=m["origin"], config_digest=m["config_digest"],
                         created=m["created"], updated=m["updated"])


_GET_PG = "SELECT * FROM services WHERE key = %s"
_VERSION_PG = ("SELECT count(*) AS n, coalesce(max(updated), 0.0) AS latest, coalesce(sum(updated), 0.0) AS total "
               "FROM services")


class SqlServiceStore:
    """Services over the job store's engine (migrations already applied by SqlStore).

    ``pg_read`` (a PostgreSQL job store's ``PgConnections.read``, store/postgres.py): ``get``, which every admin
    request of a service and every job a Celery worker runs makes, and ``version``,
    which an API server asks before each submission, are then one prepared statement
    on the calling thread's own connection instead of a pool checkout and a Core
    statement."""

    def __init__(self, engine: Engine, pg_read: Any = None) -> None:
        self.engine = engine
        self._pg_read = pg_read

    def _run(self, fn: Any, write: bool = False) -> Any:
        return run(self.engine, fn, write=write, what="service")

    def add(self, record: ServiceRecord) -> None:
        try:
            self._run(lambda c: c.execute(insert(services), _to_row(record)), write=True)
        except IntegrityError:
            raise Conflict(f"Service '{record.key}' already exists.") from None

    def get(self, key: str) -> ServiceRecord | None:
        if self._pg_read is not None:
            got = self._pg_read(lambda conn: conn.execute(_GET_PG, (key,), prepare=True).fetchone())
            return None if got is None else _from_row(got)
        row = self._run(lambda c: c.execute(select(services).where(services.c.key == key)).first())
        return None if row is None else _from_row(row)

    def list(self) -> list[ServiceRecord]:
        return self._run(lambda c: [_from_row(r) for r in c.execute(select(services).order_by(services.c.key))])

    def replace(self, record: ServiceRecord) -> None:
        values = _to_row(record.evolve(updated=time.time()))
        del values["key"]
        stmt = update(services).where(services.c.key == record.key).values(**values)
        if self._run(lambda c: c.execute(stmt).rowcount, write=True) != 1:
            raise StoreError(f"service '{record.key}' vanished while it was being changed")

    def remove(self, key: str) -> bool:
        return self._run(lambda c: c.execute(delete(services).where(services.c.key == key)).rowcount == 1,
                         write=True)

    def version(self) -> tuple[int, float, float]:
        if self._pg_read is not None:
            got = self._pg_read(lambda conn: conn.execute(_VERSION_PG, prepare=True).fetchone())
            return int(got["n"]), float(got["latest"]), float(got["total"])
        stmt = select(func.count(), func.coalesce(func.max(services.c.updated), 0.0),
                      func.coalesce(func.sum(services.c.updated), 0.0)).select_from(services)
        count, latest, total = self._run(lambda c: c.execute(stmt).one())
        return int(count), float(latest), float(total)


def open_service_store(job_store: Any) -> ServiceStore:
    """The service store beside a job store: SQL on its engine, or the fake beside the fake."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        return MemoryServiceStore()
    pg = getattr(job_store, "_pg", None)      # PostgreSQL: reads on the job store's own connections
    return SqlServiceStore(engine, None if pg is None else pg.read)
