"""Settings every machine of a scale-out deployment must share, checked at start.

API servers and workers on several machines share one database, but each reads its own
configuration.  Some settings must then be the same everywhere, and a difference shows
only later and far away: a token issued by one API server fails on the next (another
``secret_key``), jobs wait forever in queues no worker reads (another ``queue_prefix``),
or a result file is written where no API server finds it (a ``data_dir`` that is not the
shared folder).  So the first machine to start records them in the database, and every
machine compares its own at start and refuses to run on a difference, naming it.

A deliberate change (a new ``secret_key`` everywhere) is recorded again with
``opengp deployment accept`` on one machine with the new settings.
"""
from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core import StoreError
from ..system.files import token_file
from .tables import deployment

# in the shared folder: the random name the database records for it
FOLDER_MARK = "deployment.id"


@dataclass(frozen=True)
class Fact:
    """One setting as this machine has it; ``why`` says what breaks when machines differ."""

    name: str
    value: str
    why: str


class DeploymentMismatch(Exception):
    """This machine's settings differ from the deployment's: it must not start."""


def secret_fact(secret: bytes) -> Fact:
    """The token secret, as a digest (the database never holds the secret)."""
    digest = hashlib.sha256(b"opengp deployment check\0" + secret).hexdigest()[:32]
    return Fact("secret_key", digest, "tokens issued by one API server would be refused by another")


def queue_fact(queue_prefix: str) -> Fact:
    return Fact("queue_prefix", queue_prefix, "jobs would wait in queues no worker reads")


def folder_fact(data_dir: Path) -> Fact:
    """The shared folder's mark, made by the first machine to start (whoever comes first)."""
    mark = token_file(Path(data_dir) / FOLDER_MARK, 16, 0o644)
    return Fact("shared_folder", mark,
                f"job files and uploads written in {data_dir} would not be found by the other machines")


def files_fact(files_url: str) -> Fact:
    """Object storage instead of a shared folder (runtime/storage.py): the bucket and prefix."""
    return Fact("files_url", files_url,
                "job files and uploads put in one bucket would not be found by the machines using another")


def check(engine: Engine, facts: list[Fact]) -> None:
    """Record each fact the deployment does not know yet; raise if any differs from the record."""
    recorded = _record(engine, facts, replace=False)
    wrong = [f for f in facts if recorded[f.name][0] != f.value]
    if not wrong:
        return
    lines = [f"this machine's {f.name} differs from the deployment's (recorded by {recorded[f.name][1]}): {f.why}."
             for f in wrong]
    if any(f.name == "shared_folder" for f in wrong):
        lines.append("data_dir must be the same shared folder (NFS or similar) on every machine; it holds "
                     f"{FOLDER_MARK}, written by the first machine that started.")
    lines.append("Give every machine the same settings (docs/deployment.md, 'What must match'); after a "
                 "deliberate change on every machine, run `opengp deployment accept` once with the new settings.")
    raise DeploymentMismatch(" ".join(lines))


def accept(engine: Engine, facts: list[Fact]) -> None:
    """Make this machine's settings the deployment's (after a deliberate change everywhere)."""
    _record(engine, facts, replace=True)


def _record(engine: Engine, facts: list[Fact], *, replace: bool) -> dict[str, tuple[str, str]]:
    host, now = socket.gethostname(), time.time()
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    names = [f.name for f in facts]
    with engine.begin() as conn:
        if replace:
            conn.execute(delete(deployment).where(deployment.c.name.in_(names)))
        for fact in facts:      # the first machine's value wins a race: later ones compare with it
            conn.execute(insert(deployment).values(name=fact.name, value=fact.value, recorded_by=host,
                                                   recorded_at=now).on_conflict_do_nothing(index_elements=["name"]))
        rows = conn.execute(select(deployment.c.name, deployment.c.value, deployment.c.recorded_by)
                            .where(deployment.c.name.in_(names)))
        return {name: (value, by) for name, value, by in rows}


@dataclass(frozen=True)
class Recorded:
    """One setting as the deployment recorded it (``opengp deployment show``)."""

    name: str
    value: str
    recorded_by: str
    recorded_at: float


class DeploymentRecord:
    """The deployment's recorded settings, in the job store's database: what the command line
    uses (``open_deployment_record``), so it never needs the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def check(self, facts: list[Fact]) -> None:
        """:func:`check`: record what is new, raise ``DeploymentMismatch`` on a difference."""
        check(self._engine, facts)

    def accept(self, facts: list[Fact]) -> None:
        """:func:`accept`: these facts become the deployment's."""
        accept(self._engine, facts)

    def recorded(self) -> list[Recorded]:
        """Every recorded setting, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(deployment).order_by(deployment.c.name)).all()
        return [Recorded(r.name, r.value, r.recorded_by, r.recorded_at) for r in rows]


def open_deployment_record(job_store: Any) -> DeploymentRecord:
    """The record beside a SQL job store (a deployment of several machines shares a database)."""
    engine = getattr(job_store, "engine", None)
    if engine is None:
        raise StoreError("a deployment's settings are recorded in a SQL job store, not in memory")
    return DeploymentRecord(engine)
