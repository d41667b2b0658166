"""The canonical job status and the one table of allowed transitions.

Every face translates :class:`Status` into its own dialect; nothing else in
the code base decides which moves are legal.  Terminal states never change.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Status(str, Enum):
    """Where a job is in its life.

    new         created, not yet handed to an executor
    submitted   queued for a worker
    waiting     queued, held back by the service's ``max_instances``
    executing   claimed by a worker and running
    succeeded   finished with results                      (terminal)
    failed      the tool raised or its worker died          (terminal)
    timed_out   ran past the service's ``max_usage_time``   (terminal)
    cancelling  cancel requested while executing
    cancelled   stopped on request                          (terminal)
    """

    NEW = "new"
    SUBMITTED = "submitted"
    WAITING = "waiting"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def queued(self) -> bool:
        return self in QUEUED


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED})
QUEUED = frozenset({Status.NEW, Status.SUBMITTED, Status.WAITING})
RUNNING = frozenset({Status.EXECUTING, Status.CANCELLING})
"""Claimed by a worker (or an API server, for admin operations) that has not ended it."""
OPEN = frozenset(Status) - TERMINAL

_S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    _S.NEW: frozenset({_S.SUBMITTED, _S.WAITING, _S.EXECUTING, _S.CANCELLED, _S.FAILED}),
    _S.SUBMITTED: frozenset({_S.WAITING, _S.EXECUTING, _S.CANCELLED, _S.FAILED}),
    _S.WAITING: frozenset({_S.SUBMITTED, _S.EXECUTING, _S.CANCELLED, _S.FAILED}),
    _S.EXECUTING: frozenset(
        {_S.SUCCEEDED, _S.FAILED, _S.TIMED_OUT, _S.CANCELLING, _S.CANCELLED, _S.SUBMITTED}
    ),
    _S.CANCELLING: frozenset({_S.CANCELLED, _S.FAILED, _S.TIMED_OUT, _S.SUCCEEDED}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
    _S.TIMED_OUT: frozenset(),
    _S.CANCELLED: frozenset(),
}
"""``EXECUTING -> SUBMITTED`` is a retry after a dead worker; ``CANCELLING ->
SUCCEEDED`` lets a tool that finished before noticing the cancel keep its work."""


def can_move(src: Status, dst: Status) -> bool:
    """True when ``src -> dst`` is a legal transition."""
    return dst in TRANSITIONS[src]


class IllegalMove(ValueError):
    """A store was asked for a move :data:`TRANSITIONS` does not allow (a bug, never input)."""


def check_move(sources: Iterable[Status], dst: Status) -> None:
    """What every store checks before a compare-and-set: each source may move to ``dst``; or
    ``dst`` is the only source (a write that keeps the status, such as a note on a finished
    job: never mixed with real moves, which would let a finished job be written over)."""
    sources = tuple(sources)
    bad = [src for src in sources if src is not dst and dst not in TRANSITIONS[src]]
    if bad:
        raise IllegalMove(f"no move from {', '.join(s.value for s in bad)} to {dst.value}")
    if dst in sources and len(set(sources)) > 1:
        raise IllegalMove(f"a write that keeps {dst.value} names no other state")
