"""A job as the ``jobs`` table holds it, both ways: the one codec of every SQL store.

Large inputs and results are kept apart, in ``job_values`` rows (``store/values.py``).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.engine import Row

from ..core import Job, Kind, Message, Progress, Status
from .values import Encoded, decode_inputs, decode_results, split_inputs

_JSON_COLUMNS = ("progress", "inputs", "options")


def dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def encode_job(job: Job) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Column values for one job, and the ``job_values`` rows of its large values."""
    inputs, stored_inputs, apart = split_inputs(job.inputs)
    results, more = results_column(job.results)
    row = {
        "id": job.id, "kind": job.kind.value, "service": job.service, "task": job.task,
        "status": job.status.value, "owner": job.owner, "created": job.created,
        "updated": job.updated, "started": job.started, "finished": job.finished,
        "progress": dumps(job.progress.to_json()),
        "messages": dumps([m.to_json() for m in job.messages]),
        "inputs": inputs, "options": dumps(job.options),
        "results": results, "error": job.error, "request_id": job.request_id,
        "operation_uri": job.operation_uri, "attempts": job.attempts, "worker": job.worker,
        "heartbeat": job.heartbeat, "cancel_requested": job.cancel_requested,
        "expires": job.expires, "stored_inputs": stored_inputs,
    }
    return row, value_rows(job.id, [*apart, *more])


def job_to_row(job: Job) -> dict[str, Any]:
    """Column values for one job (its large values: ``encode_job``)."""
    return encode_job(job)[0]


def results_column(results: Any) -> tuple[str | None, tuple[tuple[str, str, bytes], ...]]:
    """The ``results`` column and the large results' rows.  A tool's results come ``Encoded``
    (by the worker that ran it: ``store.values.encode_results``), their large values apart;
    anything else (an admin operation's own small document) is stored as it is."""
    if isinstance(results, Encoded):
        return results.column, results.apart
    return dumps(results), ()


def value_rows(job_id: str, apart: Sequence[tuple[str, str, bytes]]) -> list[dict[str, Any]]:
    return [{"job_id": job_id, "role": role, "name": name, "value": value} for role, name, value in apart]


def job_from_row(row: Row | sqlite3.Row | dict[str, Any]) -> Job:
    m = row._mapping if isinstance(row, Row) else row
    loads = orjson.loads
    kind = Kind(m["kind"])
    return Job(
        id=m["id"], kind=kind, service=m["service"], task=m["task"],
        status=Status(m["status"]), created=m["created"], updated=m["updated"],
        owner=m["owner"], started=m["started"], finished=m["finished"],
        progress=Progress.from_json(loads(m["progress"]) if m["progress"] else None),
        messages=tuple(Message.from_json(x) for x in loads(m["messages"] or "[]")),
        inputs=decode_inputs(m["inputs"], m["stored_inputs"]),
        options=loads(m["options"]) if m["options"] else {},
        results=(loads(m["results"]) if m["results"] else None) if kind is Kind.ADMIN else decode_results(m["results"]),
        error=m["error"], request_id=m["request_id"], operation_uri=m["operation_uri"],
        attempts=m["attempts"] or 0, worker=m["worker"], heartbeat=m["heartbeat"],
        cancel_requested=bool(m["cancel_requested"]), expires=m["expires"],
    )


def encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Job attribute values -> column values."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "progress":
            value = dumps(value.to_json())
        elif key in _JSON_COLUMNS:
            value = dumps(value)
        elif isinstance(value, Status | Kind):
            value = value.value
        out[key] = value
    return out
