"""Where a job's files live on disk and under which URL they are served.

Mirrors ArcGIS Server's jobs directory: ``arcgisjobs/<folder>/<service>_gpserver/<jobId>/scratch``.
"""
from __future__ import annotations

from pathlib import Path

JOBS_URL_PATH = "/arcgis/rest/directories/arcgisjobs"


def service_dir(service: str) -> str:
    """``Demo/Tools`` -> ``demo/tools_gpserver``."""
    return f"{service.lower()}_gpserver"


def job_root(data_dir: Path, service: str, job_id: str) -> Path:
    return Path(data_dir) / "arcgisjobs" / service_dir(service) / job_id


def job_dir(data_dir: Path, service: str, job_id: str) -> Path:
    """The tool's work folder (``ctx.workdir``)."""
    return job_root(data_dir, service, job_id) / "scratch"


def job_files_url(base_url: str | None, service: str, job_id: str) -> str:
    base = (base_url or "").rstrip("/")
    return f"{base}{JOBS_URL_PATH}/{service_dir(service)}/{job_id}/scratch"
