"""Running jobs: run_job() and the JobContext a tool sees."""
from __future__ import annotations

from .context import JobContext

__all__ = ["JobContext"]
