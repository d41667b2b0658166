"""Where a job's files live on disk and under which URL they are served.

Mirrors ArcGIS Server's jobs directory: ``arcgisjobs/<folder>/<service>_gpserver/<jobId>/scratch``.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

JOBS_URL_PATH = "/arcgis/rest/directories/arcgisjobs"


def private_data_dir(data_dir: Path) -> Path:
    """The data folder, made the server's user's alone, with everything this process creates
    from now on (``umask 077``): it holds the job store (password hashes, every job's inputs
    and results), the token secret, job files and uploads, which files created with the usual
    umask (0644, folders 0755) left readable to every user of the machine.  A folder made by
    an earlier version is closed too (when it is ours): what is inside it is then out of reach
    whatever its own mode.  Every process of a server inherits the umask (local workers, a
    Celery worker's pool)."""
    os.umask(os.umask(0o077) | 0o077)      # never wider than it was
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if data_dir.stat().st_uid == os.getuid():
            data_dir.chmod(0o700)
    except OSError:     # a folder shared by mount may refuse: its owner sets its mode
        pass
    return data_dir


def token_file(path: Path, nbytes: int, mode: int) -> str:
    """The random token in ``path``, written (``nbytes`` random bytes, hex) by whichever process
    creates the file first.  Processes starting together may find it created and not yet
    written: they wait for it (5 s) rather than read an empty token; "" if it stays empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(nbytes))
    deadline = time.monotonic() + 5
    while not (token := path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return token


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


def split_job_path(path: str) -> tuple[str, str, str] | None:
    """A path under ``arcgisjobs/`` -> (``demo/tools_gpserver``, job id, the rest), or None
    when it names no job's file."""
    parts = [p for p in path.split("/") if p]
    at = next((i for i, p in enumerate(parts) if p.endswith("_gpserver")), None)
    if at is None or at + 2 >= len(parts):
        return None
    return "/".join(parts[:at + 1]), parts[at + 1], "/".join(parts[at + 2:])


# -- uploads: files sent before a job that uses them (ArcGIS's uploads/upload) ----------
UPLOAD_ID = re.compile(r"^i[0-9a-f]{32}$")


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "uploads"


def new_upload_id() -> str:
    return "i" + secrets.token_hex(16)


def safe_file_name(name: str) -> str:
    """The last path part of a client's file name, without anything a path could abuse."""
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    base = re.sub(r"[^\w.\- ]", "_", base)
    while len(base.encode()) > 200:          # file systems count bytes, not characters
        base = base[:-1]
    return base or "upload"


def upload_path(uploads: Path, item_id: str) -> Path | None:
    """The uploaded file of ``item_id`` in ``uploads``, or None when there is no such (or no longer any) upload."""
    if not UPLOAD_ID.match(item_id or ""):
        return None
    folder = uploads / item_id
    try:
        files = [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return None
    return files[0] if len(files) == 1 else None


UPLOAD_RETENTION = 24 * 3600.0      # seconds an uploaded file is kept for the jobs that use it


def save_upload(data_dir: Path, filename: str, source: BinaryIO, limit: int) -> tuple[str, Path]:
    """Copy an uploaded file into its own folder; returns (itemID, path).
    ValueError when it is larger than ``limit`` bytes (nothing is kept then)."""
    item_id = new_upload_id()
    folder = uploads_dir(data_dir) / item_id
    folder.mkdir(parents=True)
    target = folder / safe_file_name(filename)
    size = 0
    try:
        with open(target, "wb") as out:
            while chunk := source.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"the file is larger than the {limit}-byte upload limit")
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return item_id, target


def purge_uploads(data_dir: Path, older_than: float) -> int:
    """Delete uploads made before ``older_than`` (epoch seconds); returns how many."""
    gone = 0
    try:
        folders = list(uploads_dir(data_dir).iterdir())
    except OSError:
        return 0
    for folder in folders:
        try:
            if UPLOAD_ID.match(folder.name) and folder.stat().st_mtime < older_than:
                shutil.rmtree(folder, ignore_errors=True)
                gone += 1
        except OSError:
            pass
    return gone


def sqlite_url(data_dir: Path) -> str:
    """The default job store: ``opengp.db`` in the data folder."""
    return f"sqlite:///{Path(data_dir).resolve() / 'opengp.db'}"
