"""A :class:`JobQuery` compiled to SQL both databases run: its conditions, its parameters,
and the page of jobs.

Conditions are text over our own column names and enum values; every value a caller gives
is a bind parameter (:func:`params`).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..core import Kind, Status, folded_username
from .base import JobQuery
from .tables import sql_literals


def where(conds: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def one_of(column: str, values: Iterable[str]) -> str:
    """``column = 'v'`` or ``column IN (...)`` for our own enum values (never user input)."""
    values = sorted(values)
    return f"{column} = '{values[0]}'" if len(values) == 1 else f"{column} IN ({sql_literals(values)})"


def key_conds(q: JobQuery, kinds: Iterable[str] | None = None,
              statuses: Iterable[Status] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Conditions on the counted columns (the same names in jobs and the count
    tables); ``kinds``/``statuses`` narrow the query's own (one branch of it)."""
    conds, params = [], {}
    for name in ("service", "task", "owner"):
        value = getattr(q, name)
        if value is not None:
            conds.append(f"{name} = :{name}")
            params[name] = value
    if q.user_name is not None:     # both tables hold the owner as written; the count tables' '' is no user
        conds.append("lower(owner) = :user_name")
        params["user_name"] = folded_username(q.user_name)
    if kinds is None and q.kind is not None:
        conds.append("kind = :kind")
        params["kind"] = q.kind
    elif kinds is not None:
        conds.append(one_of("kind", kinds))
    statuses = q.statuses if statuses is None else statuses
    if statuses is not None:
        conds.append(one_of("status", (s.value for s in statuses)))
    return conds, params


def jobs_key_branches(q: JobQuery, statuses: Iterable[Status] | None = None) -> list[list[str]]:
    """Key conditions for counting in the jobs table: with a service but any
    kind, one branch per kind, so each is a range of a (service, kind, ...)
    index (given ``kind IN (...)`` SQLite may pick a worse index)."""
    if q.service is not None and q.kind is None:
        return [key_conds(q, [k.value], statuses)[0] for k in Kind]
    return [key_conds(q, None, statuses)[0]]


def time_conds(q: JobQuery) -> list[str]:
    return ([] if q.created_after is None else ["created >= :after"]) + (
        [] if q.created_before is None else ["created <= :before"])


def filter_conds(q: JobQuery) -> list[str]:
    """Conditions the count tables do not answer: the time window, the machine, several
    processes, run time."""
    conds = time_conds(q) + ([] if q.machine is None else [MACHINE_COND.format(name="machine")])
    if q.processes is not None:
        pairs = [f"(service = :ps{i} AND task = :pt{i})" for i in range(len(q.processes))]
        conds.append(f"({' OR '.join(pairs)})" if pairs else "1 = 0")
    if q.min_duration is not None or q.max_duration is not None:
        conds.append("started IS NOT NULL")
        run = "(coalesce(finished, :now) - started)"
        if q.min_duration is not None:
            conds.append(f"{run} >= :min_duration")
        if q.max_duration is not None:
            conds.append(f"{run} <= :max_duration")
    return conds


def empty(q: JobQuery) -> bool:
    """True when no job can match (no status wanted, or a window that ends before it starts)."""
    return (q.statuses is not None and not q.statuses) or (
        q.created_after is not None and q.created_before is not None and q.created_after > q.created_before) or (
        q.user_name is not None and "\x00" in q.user_name)   # no user's; PostgreSQL cannot take it as a parameter


def params(q: JobQuery) -> dict[str, Any]:
    """The bind parameters of every statement compiled from ``q``."""
    out = key_conds(q)[1]
    out.update(after=q.created_after, before=q.created_before, offset=q.offset, limit=q.limit)
    for i, (service, task) in enumerate(q.processes or ()):
        out[f"ps{i}"], out[f"pt{i}"] = service, task
    out.update(now=time.time(), min_duration=q.min_duration, max_duration=q.max_duration)
    if q.machine is not None:
        out["machine"] = machine_pattern(q.machine)
    return out


# A job ran on a machine when its ``worker`` ("host:pid.run") starts with the host and a colon
MACHINE_COND = "lower(worker) LIKE :{name} ESCAPE '\\'"


def machine_pattern(machine: str) -> str:
    """The LIKE pattern of MACHINE_COND for jobs run on ``machine`` (any letter case)."""
    escaped = machine.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + ":%"


def page_sql(q: JobQuery, postgres: bool) -> str:
    """One page, newest first, every part of it read from an index in created
    order: the query splits into one branch per kind (when it has a service
    but no kind) and per status (when it names several); an IN list would
    make SQLite walk the service's whole created index, or sort every
    matching row."""
    order = "created ASC, id ASC" if q.oldest_first else "created DESC, id DESC"
    if q.limit is not None:
        limit = "LIMIT :limit OFFSET :offset"
    elif q.offset:
        limit = "OFFSET :offset" if postgres else "LIMIT -1 OFFSET :offset"
    else:
        limit = ""
    kinds = [[k.value] for k in Kind] if q.service is not None and q.kind is None else [None]
    statuses = [[s] for s in sorted(q.statuses)] if q.statuses is not None and len(q.statuses) > 1 else [None]
    if len(kinds) * len(statuses) == 1:
        return f"SELECT * FROM jobs{where(key_conds(q)[0] + filter_conds(q))} ORDER BY {order} {limit}"
    top = "" if q.limit is None else f" LIMIT {int(q.offset) + int(q.limit)}"
    branches = [f"SELECT * FROM (SELECT * FROM jobs{where(key_conds(q, k, s)[0] + filter_conds(q))} "
                f"ORDER BY {order}{top}) AS b{i}"
                for i, (k, s) in enumerate((k, s) for k in kinds for s in statuses)]
    return f"{' UNION ALL '.join(branches)} ORDER BY {order} {limit}"
