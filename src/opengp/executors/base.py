"""The Executor protocol: how jobs get from the store to a worker."""
from __future__ import annotations

from typing import Callable, Protocol

DoneCallback = Callable[[str], None]
"""Called with a job id (from any thread) when the executor is done with it."""


class Executor(Protocol):
    def start(self) -> None:
        """Start workers; jobs submitted before this are queued."""

    def stop(self) -> None:
        """Stop workers; running jobs end as the reconciler finds them next start."""

    def submit(self, job_id: str, service: str) -> None:
        """Queue a committed job of ``service`` (status submitted)."""

    def cancel(self, job_id: str) -> None:
        """Stop a queued or running job (its status was already moved by the job service)."""

    def services_changed(self) -> None:
        """A service was published, edited, started or stopped: its limits may let waiting jobs run."""

    def worker_pids(self) -> list[int]:
        """This machine's worker processes (none when workers live elsewhere)."""
