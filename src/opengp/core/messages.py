"""A GP service's message level (ArcGIS's ``showMessages`` service property): which of its
jobs' messages its clients are shown.

The one place that decides it.  Every face that shows a GP job's messages (the job resource,
``execute``'s answer and error, the job pages, the OGC statusInfo and its problems) asks
:class:`ShowMessages`; the store keeps every message whatever the level, so a level changed
later applies to the jobs already run too.
"""
from __future__ import annotations

from enum import Enum

from .job import Job, Level, Message

# The levels each setting lets through.  ArcGIS: None returns no messages (only whether the
# job succeeded), Error only errors, Warning errors and warnings, Info every message.
_SHOWN = {
    "None": frozenset(),
    "Error": frozenset({Level.ERROR}),
    "Warning": frozenset({Level.ERROR, Level.WARNING}),
    "Info": frozenset({Level.ERROR, Level.WARNING, Level.INFO}),
}


class ShowMessages(str, Enum):
    """A service's message level, spelt as ArcGIS spells it."""

    NONE = "None"
    ERROR = "Error"
    WARNING = "Warning"
    INFO = "Info"

    @classmethod
    def parse(cls, value: object) -> ShowMessages:
        """``value`` in any letter case (``info``, ``INFO``); ValueError naming the levels."""
        if isinstance(value, cls):
            return value
        for level in cls:
            if isinstance(value, str) and value.strip().lower() == level.value.lower():
                return level
        raise ValueError(f"must be one of {', '.join(level.value for level in cls)}, not {value!r}")

    def allows(self, level: Level) -> bool:
        return level in _SHOWN[self.value]

    def messages(self, job: Job) -> tuple[Message, ...]:
        """The job's messages this level shows, in order."""
        if self is ShowMessages.INFO:
            return job.messages
        return tuple(m for m in job.messages if m.level in _SHOWN[self.value])

    def errors(self, job: Job) -> list[str]:
        """What a client may read of why the job failed: its error messages, or its ``error``
        when it has none; nothing under a level that hides errors."""
        if not self.allows(Level.ERROR):
            return []
        texts = [m.text for m in job.messages if m.level is Level.ERROR]
        return texts or ([job.error] if job.error else [])
