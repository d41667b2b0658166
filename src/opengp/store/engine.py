"""One SQLAlchemy call for the small tables beside the jobs (users, services):
a transaction for writes, a connection for reads, driver errors as StoreError."""
from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..core import StoreError
from ..system.metrics import store_error

T = TypeVar("T")


def run(engine: Engine, fn: Callable[[Connection], T], *, write: bool, what: str) -> T:
    """``fn(connection)``; IntegrityError passes through (callers turn it into Conflict)."""
    try:
        with (engine.begin() if write else engine.connect()) as c:
            return fn(c)
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        op = "write" if write else "read"
        raise store_error(StoreError(f"{what} store {op} failed: {exc}"), op) from exc
