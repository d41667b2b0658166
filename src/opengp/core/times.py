"""The times opengp takes from a client: the years 1 to 9999 (UTC), what a date can hold
(Python's ``datetime``, through which every time is shown).  A number past them may not even
fit a float; it is refused where it is read, in the face's own error format."""
from __future__ import annotations

EARLIEST = -62135596800.0       # 0001-01-01T00:00:00 UTC, in seconds since the epoch
LATEST = 253402300799.0         # 9999-12-31T23:59:59 UTC


def within_dates(seconds: float) -> bool:
    """``seconds`` since the epoch is a time of the years 1 to 9999 (NaN and the infinities are
    not; an int of any size is compared exactly, never converted to a float)."""
    return EARLIEST <= seconds <= LATEST
