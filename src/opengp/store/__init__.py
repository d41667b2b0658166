"""Job persistence: the Store protocols (base.py) and their backends (memory, SQL)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backlog, ClaimStore, Housekeeping, JobQuery, JobStore, Lease, Store
from .memory import MemoryStore

if TYPE_CHECKING:
    from .cache import JobCache


def open_store(url: str, *, cache: JobCache | None = None) -> Store:
    """A store for a SQLAlchemy URL, or ``memory://`` for the in-memory fake.  ``cache``: a
    scale-out API server's cache of jobs (store/cache.py; give its ``notify.Listener`` the
    same), for SQL stores; the fake has no use for one."""
    if url.startswith("memory:"):
        return MemoryStore()
    from .sql import SqlStore

    return SqlStore(url, cache=cache)


__all__ = ["Backlog", "ClaimStore", "Housekeeping", "JobQuery", "JobStore", "Lease", "MemoryStore", "Store",
           "open_store"]
