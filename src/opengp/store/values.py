"""A job's big values, kept apart from its record.

A tool may return tens of megabytes (a buffer of 20,000 points is 50 MB of Esri JSON), and
a request may carry megabytes of input.  Kept in the job's row, every status poll decoded
them (seconds, on the event loop), every heartbeat rewrote them (SQLite rewrites a whole
row), and a job page rendered them whole.  So a value whose JSON is over ``INLINE_BYTES``
is kept apart, in ``job_values`` (one row per value, written in the same transaction as
the job's creation or end, deleted with the job), and the job's record holds only a
``Stored`` placeholder saying how big it is.  Only the resources that send the value read
it (``Store.values``), as its JSON bytes, unparsed.

A result kept apart has a *preview* too (role ``preview``): what a page shows of it.  For
a feature set, its first features up to ``PREVIEW_BYTES`` of JSON (and its spatial
reference and type); for anything else, the first ``PREVIEW_CHARS`` characters of its JSON.

Encoding happens where the value is made (``encode_results`` in the worker that ran the
tool, ``split_inputs`` in the store at submit), so a big result crosses a local worker's
pipe as bytes, and the API server never builds its Python objects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..core import Stored

INLINE_BYTES = 4096             # a value's JSON up to this stays in the job's record
PREVIEW_BYTES = 256 * 1024      # features a page draws of a big feature set, in JSON bytes
PREVIEW_CHARS = 4000            # characters a page shows of any other big value
FEATURES = "GPFeatureRecordSetLayer"
INPUT, RESULT, PREVIEW = "input", "result", "preview"       # the roles of job_values rows


@dataclass(frozen=True)
class Encoded:
    """A tool's results made ready to store (``encode_results``): the job's ``results``
    column (small values inline, placeholders for the rest), the rows of ``job_values``
    (role, name, JSON bytes), and the size of all of them in JSON bytes."""

    column: str
    apart: tuple[tuple[str, str, bytes], ...]
    size: int


def encode_results(results: dict[str, dict[str, Any]]) -> Encoded:
    """``{name: {"dataType", "value"}}`` (what ``ToolSpec.dump`` makes) -> ``Encoded``.
    TypeError when a value is not JSON."""
    column: dict[str, Any] = {}
    apart: list[tuple[str, str, bytes]] = []
    size = 0
    for name, result in results.items():
        data_type, value = result["dataType"], result["value"]
        data = orjson.dumps(value)
        size += len(data)
        if len(data) <= INLINE_BYTES:
            column[name] = {"dataType": data_type, "value": value}
            continue
        count = len(value["features"]) if _is_feature_set(data_type, value) else None
        column[name] = {"dataType": data_type, "size": len(data), "count": count}
        apart.append((RESULT, name, data))
        apart.append((PREVIEW, name, preview(data_type, value, data)))
    return Encoded(orjson.dumps(column).decode(), tuple(apart), size)


def decode_results(column: str | None) -> dict[str, Any] | None:
    """The ``results`` column -> ``Job.results``; a value kept apart is a ``Stored``."""
    if not column:
        return None
    results = orjson.loads(column)
    if '"size"' not in column:      # nothing kept apart (a status poll's usual case: skip the loop)
        return results
    for name, result in results.items():
        if isinstance(result, dict) and "size" in result and "value" not in result:     # encode_results' mark
            results[name] = {"dataType": result.get("dataType"), "value": Stored(result["size"], result.get("count"))}
    return results


def split_inputs(inputs: dict[str, Any]) -> tuple[str, str | None, list[tuple[str, str, bytes]]]:
    """A job's inputs -> the ``inputs`` column (the small ones), the ``stored_inputs`` column
    (``{name: size}`` of the others, or None) and their ``job_values`` rows."""
    small: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    apart: list[tuple[str, str, bytes]] = []
    for name, value in inputs.items():
        if isinstance(value, Stored):       # a job read back and stored again (bench fill, copies)
            raise ValueError(f"input '{name}' is a placeholder, not a value")
        data = orjson.dumps(value)
        if len(data) <= INLINE_BYTES:
            small[name] = value
        else:
            sizes[name] = len(data)
            apart.append((INPUT, name, data))
    return orjson.dumps(small).decode(), orjson.dumps(sizes).decode() if sizes else None, apart


def decode_inputs(column: str | None, stored: str | None) -> dict[str, Any]:
    """The ``inputs`` and ``stored_inputs`` columns -> ``Job.inputs``."""
    inputs = orjson.loads(column) if column else {}
    if stored:
        for name, size in orjson.loads(stored).items():
            inputs[name] = Stored(size)
    return inputs


def preview(data_type: str, value: Any, data: bytes) -> bytes:
    """What a page shows of a big value (module docstring), as JSON: a feature set with its
    first features, or a string (the start of the value's JSON)."""
    if _is_feature_set(data_type, value):
        kept, budget = [], PREVIEW_BYTES
        for feature in value["features"]:
            budget -= len(orjson.dumps(feature)) + 1
            if budget < 0:
                break
            kept.append(feature)
        return orjson.dumps({**value, "features": kept})
    return orjson.dumps(data[:PREVIEW_CHARS * 4].decode("utf-8", "ignore")[:PREVIEW_CHARS])


def _is_feature_set(data_type: str, value: Any) -> bool:
    return data_type == FEATURES and isinstance(value, dict) and isinstance(value.get("features"), list)
