"""The job statements both databases run (plain SQL text, ``:name`` parameters, ``RETURNING``):
SQLite 3.35+ and PostgreSQL take them as they are (psycopg after ``postgres.pg_sql``)."""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ..core import TERMINAL
from ..core.status import QUEUED
from .tables import jobs

_COLUMNS = tuple(c.name for c in jobs.columns)
INSERT = f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"
# heartbeats lost in a database crash are harmless: no fsync wait for them
ASYNC_COMMIT = (("SET LOCAL synchronous_commit = off", {}),)
# A new job stamped on PostgreSQL's clock as it is stored (``SqlStore.create(stamp=True)``),
# after the shared hold on SETTLE_LOCK that ``settled_time`` waits for; its stamps returned.
# statement_timestamp(): one value for the whole statement, taken after the lock's statement
_PG_NOW = "extract(epoch from statement_timestamp())"
PG_INSERT_STAMPED = (f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ("
                     + ", ".join(_PG_NOW if c in ("created", "updated") else
                                 f"CAST(:expires AS DOUBLE PRECISION) - CAST(:created AS DOUBLE PRECISION) + {_PG_NOW}"
                                 if c == "expires" else f":{c}" for c in _COLUMNS)
                     + ") RETURNING created, updated, expires")
SETTLE_LOCK = 0x6F70656E7374    # PostgreSQL advisory lock: held shared by a job being created
SETTLE_SHARED = "SELECT pg_advisory_xact_lock_shared(:settle_lock)"
SETTLE_NOW = f"SELECT {_PG_NOW}"
SETTLE_WAIT = "SELECT pg_advisory_xact_lock(:settle_lock)"
SETTLE_TIMEOUT = "SET LOCAL lock_timeout = '3s'"   # a page waits this long at most for creates in flight
# Appends a JSON array of new messages to the stored array without reading it first.
_APPEND_MESSAGES = ("CASE WHEN messages IS NULL OR messages = '[]' THEN :new_messages "
                    "ELSE substr(messages, 1, length(messages) - 1) || ',' || substr(:new_messages, 2) END")
# A finished job is kept for its retention from when it finished, not from when it was made.
_RETENTION_FROM_FINISH = "expires = CASE WHEN expires IS NULL THEN NULL ELSE :finished + (expires - created) END"
TERMINAL_VALUES = tuple(s.value for s in TERMINAL)


def is_(column: str, values: Iterable[str]) -> str:
    """``column`` is one of ``values`` (our own enum values), as a row filter.
    Not ``IN (...)``: SQLite builds a temporary table for a list of more than
    two values each time a statement tests one (a claim paid ~20 us for it)."""
    return "(" + " OR ".join(f"{column} = '{v}'" for v in sorted(values)) + ")"


@lru_cache(maxsize=512)
def update(columns: tuple[str, ...], where: str, append_messages: bool, returning: str,
           finishing: bool = False) -> str:
    """``UPDATE jobs`` setting ``columns`` (and appending ``:new_messages``) where ``where``."""
    sets = [f"{c} = :{c}" for c in columns]
    if finishing and "expires" not in columns:
        sets.append(_RETENTION_FROM_FINISH)
    if append_messages:
        sets.append(f"messages = {_APPEND_MESSAGES}")
    return f"UPDATE jobs SET {', '.join(sets)} WHERE {where}" + (f" RETURNING {returning}" if returning else "")


VALUES_INSERT = ("INSERT INTO job_values (job_id, role, name, value) VALUES (:job_id, :role, :name, :value) "
                 "ON CONFLICT (job_id, role, name) DO UPDATE SET value = excluded.value")
VALUES_DELETE = "DELETE FROM job_values WHERE job_id = :id"
VALUES = "SELECT name, value FROM job_values WHERE job_id = :id AND role = :role"
CLAIM = (
    "UPDATE jobs SET status = 'executing', started = :now, updated = :now, worker = :worker, "
    f"heartbeat = :now, attempts = attempts + 1 WHERE id = :id AND {is_('status', (s.value for s in QUEUED))} "
    "AND cancel_requested = false RETURNING *"
)
HEARTBEAT = ("UPDATE jobs SET heartbeat = {clock} WHERE id = :id AND worker = :worker "
             "RETURNING cancel_requested")
DELETE = "DELETE FROM jobs WHERE id = :id RETURNING id"
NOTIFY = "SELECT pg_notify('opengp_jobs', :id)"       # store/notify.py's CHANNEL; sent at commit
