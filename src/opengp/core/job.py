"""The one canonical job record, shared by every layer and every face."""
from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .status import Status


class Kind(str, Enum):
    GP = "gp"              # a tool run (submitJob / execute)
    ADMIN = "admin"        # an admin operation run as a job
    PRODUCT = "product"    # a product generation


class Level(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Message:
    """One job message; ``time`` is epoch seconds."""

    time: float
    level: Level
    text: str

    def to_json(self) -> list[Any]:
        return [self.time, self.level.value, self.text]

    @classmethod
    def from_json(cls, item: list[Any]) -> Message:
        return cls(float(item[0]), Level(item[1]), str(item[2]))

    @classmethod
    def now(cls, level: Level | str, text: str) -> Message:
        return cls(time.time(), Level(level), text)


@dataclass(frozen=True, slots=True)
class Progress:
    """Percent complete (0-100, or None when unknown) and the current stage.

    ``stages`` lists every stage of an operation that knows them up front (admin
    operations) as ``(name, state)``; state is pending, running, completed,
    failed, cancelled or skipped.
    """

    percent: float | None = None
    stage: str | None = None
    message: str | None = None
    stages: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percent": self.percent, "stage": self.stage, "message": self.message}
        if self.stages:
            out["stages"] = [list(s) for s in self.stages]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Progress:
        if not data:
            return cls()
        stages = tuple((str(n), str(s)) for n, s in data.get("stages") or ())
        return cls(data.get("percent"), data.get("stage"), data.get("message"), stages)


@dataclass(frozen=True, slots=True)
class Stored:
    """A job's input or result kept apart from its record, being large (``store/values.py``):
    what the record says of it.  The resources that send it read it (``JobService.value``);
    nothing else loads it.  ``size``: bytes of its JSON; ``count``: features, for a feature set."""

    size: int
    count: int | None = None


def new_job_id() -> str:
    """ArcGIS-looking ids: ``j`` plus 32 hex digits."""
    return "j" + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Job:
    """Everything known about one job.  Immutable: use :meth:`evolve`."""

    id: str
    kind: Kind
    service: str            # "Folder/Name" or "Name"
    task: str
    status: Status
    created: float
    updated: float
    owner: str | None = None
    started: float | None = None
    finished: float | None = None
    progress: Progress = field(default_factory=Progress)
    messages: tuple[Message, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)    # a large one: Stored
    options: dict[str, Any] = field(default_factory=dict)   # env:outSR, returnZ, ...
    results: dict[str, Any] | None = None   # {name: {"dataType", "value"}}; a large value: Stored
    error: str | None = None
    request_id: str | None = None
    operation_uri: str | None = None
    attempts: int = 0
    worker: str | None = None
    heartbeat: float | None = None
    cancel_requested: bool = False
    expires: float | None = None

    @classmethod
    def new(
        cls,
        service: str,
        task: str,
        inputs: dict[str, Any],
        *,
        kind: Kind = Kind.GP,
        owner: str | None = None,
        options: dict[str, Any] | None = None,
        retention: float | None = None,
        request_id: str | None = None,
        operation_uri: str | None = None,
        job_id: str | None = None,
        status: Status = Status.NEW,
        first_message: str | None = None,
    ) -> Job:
        """A fresh job (in ``new`` unless ``status`` says otherwise), with ``first_message``
        as its first message when given; ``retention`` (seconds) sets when it is purged."""
        now = time.time()
        return cls(
            id=job_id or new_job_id(),
            kind=kind,
            service=service,
            task=task,
            status=status,
            created=now,
            updated=now,
            messages=(Message(now, Level.INFO, first_message),) if first_message is not None else (),
            owner=owner,
            inputs=inputs,
            options=options or {},
            request_id=request_id,
            operation_uri=operation_uri,
            expires=now + retention if retention else None,
        )

    def evolve(self, **changes: Any) -> Job:
        return dataclasses.replace(self, **changes)

    def stamped(self, now: float) -> Job:
        """Made at ``now``: created and updated then, and kept as long from then."""
        return dataclasses.replace(self, created=now, updated=now,
                                   expires=None if self.expires is None else self.expires + (now - self.created))
