"""Job persistence: the Store protocol and its backends (memory, SQL)."""
from __future__ import annotations

from .base import Backlog, JobQuery, Lease, Store
from .memory import MemoryStore


def open_store(url: str) -> Store:
    """A store for a SQLAlchemy URL, or ``memory://`` for the in-memory fake."""
    if url.startswith("memory:"):
        return MemoryStore()
    from .sql import SqlStore

    return SqlStore(url)


__all__ = ["Backlog", "JobQuery", "Lease", "MemoryStore", "Store", "open_store"]
