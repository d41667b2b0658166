"""One SQLAlchemy call for the small tables beside the jobs (users, services):
a transaction for writes, a connection for reads, driver errors as StoreError."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Callable, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..core import StoreError
from ..system.metrics import store_error

T = TypeVar("T")


def run(engine: Engine, fn: Callable[[Connection], T], *, write: bool, what: str,
        writer: AbstractContextManager[object] | None = None) -> T:
    """``fn(connection)``; IntegrityError passes through (callers turn it into Conflict).
    ``writer``: taken around a write (SQLite's one writer's lock, ``SqlStore.writer``)."""
    try:
        with writer if write and writer is not None else nullcontext(), \
                (engine.begin() if write else engine.connect()) as c:
            return fn(c)
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        op = "write" if write else "read"
        raise store_error(StoreError(f"{what} store {op} failed: {exc}"), op) from exc
