"""Where job files and uploads are kept, behind one small interface (``FileStore``).

``SharedFolder`` (the default) keeps files where tools write them, under ``data_dir``:
``arcgisjobs/<folder>/<service>_gpserver/<jobId>/scratch/...`` and ``uploads/<itemID>/<name>``.
In scale-out mode that folder is mounted at the same path on every machine; nothing is copied.

``S3Files`` (``files_url = "s3://bucket/prefix"``, the ``opengp[s3]`` extra) keeps them in an
S3-compatible object store under the same names (``prefix/arcgisjobs/...``, ``prefix/uploads/...``):

- a tool still writes to a local ``ctx.workdir`` on its worker (the same path under that
  machine's ``data_dir``). When the tool ends, ``run_job`` copies the folder to the store
  **before** it writes the job's final status, so a client never sees a result whose file
  is not there yet, and then removes the local folder;
- API servers send a file by streaming its object under the URL it always had
  (``/arcgis/rest/directories/arcgisjobs/...``), after the same access checks; there are no
  presigned URLs, so the store needs no public endpoint and a link never outlives its job;
- an upload (``uploads/upload``) is put in the store by the API server that received it,
  and the worker that runs a job naming its itemID copies it beside the job's ``scratch``
  folder (so it is not published again), where the tool reads it as a local file;
- deleting a job (admin delete, OGC dismiss, retention, service delete) deletes its objects.

Credentials come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, instance roles), never from the config file;
``s3_endpoint_url`` points at MinIO, Ceph and the like. botocore's errors become
``FileStoreError`` (an ``Unavailable``: a 503 in every dialect) where they enter.
"""
from __future__ import annotations

import mimetypes
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Protocol

from ..core import FileStoreError
from ..system.files import (
    UPLOAD_ID, job_root, new_upload_id, purge_uploads, safe_file_name, save_upload, service_dir, uploads_dir,
)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")     # one range: what S3's GetObject accepts


@dataclass(frozen=True)
class Upload:
    """A file kept by ``uploads/upload`` for the jobs that name its ``item_id``."""

    item_id: str
    name: str
    created: float      # epoch seconds


@dataclass
class StoredFile:
    """One job file to send: a local ``path`` (sent as it is), or an object's ``chunks``.

    ``size`` is the length of what is sent (the range's, when ``content_range`` is set);
    ``close`` releases the object's connection."""

    name: str
    path: Path | None = None
    size: int = 0
    etag: str | None = None
    modified: float | None = None
    content_range: str | None = None
    chunks: Iterator[bytes] | None = None
    close: Callable[[], None] = field(default=lambda: None)


class FileStore(Protocol):
    """Job files and uploads. ``remote``: files are copied there when a job ends (else the
    folder tools write to is the store itself, and there is nothing to copy)."""

    remote: bool

    def check(self) -> None:
        """Raise FileStoreError unless the store can be used (at start, to fail early and clearly)."""

    def publish_job(self, service: str, job_id: str) -> int:
        """Copy the job's local ``scratch`` folder to the store, then remove the local folder;
        returns how many files were copied. FileStoreError when that failed."""

    def discard_local(self, service: str, job_id: str) -> None:
        """Remove the job's local folder without publishing it (cancelled, killed, failed to publish)."""

    def open(self, service_part: str, job_id: str, rest: str, *, head: bool = False,
             byte_range: str | None = None) -> StoredFile | None:
        """The file ``<service_part>/<job_id>/<rest>`` (as in its URL), or None when there is none.
        ``head``: its headers only; ``byte_range``: an HTTP ``Range`` the store may honour."""

    def delete_job(self, service: str, job_id: str) -> None:
        """Delete every file of the job (local and stored)."""

    def save_upload(self, filename: str, source: BinaryIO, limit: int) -> Upload:
        """Keep an uploaded file under a new itemID. ValueError when it is larger than ``limit``."""

    def uploads(self, job_folder: Path | None) -> Any:
        """What ``ParseEnv.uploads`` gets: at submit (``job_folder`` None) it checks an itemID;
        in a running job it gives the file as a local path (copied into ``job_folder``)."""

    def purge_uploads(self, older_than: float) -> int:
        """Delete uploads made before ``older_than`` (epoch seconds); returns how many."""


def open_file_store(settings: Any) -> FileStore:
    """The store the settings name: ``files_url`` (S3) or the shared ``data_dir``."""
    if settings.files_url:
        return S3Files(settings.files_url, Path(settings.data_dir), endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region)
    return SharedFolder(Path(settings.data_dir))


# -- the shared folder (default) ------------------------------------------------------------------
class SharedFolder:
    """Files stay under ``data_dir``, where tools write them (system/files.py)."""

    remote = False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)

    def check(self) -> None:
        pass

    def publish_job(self, service: str, job_id: str) -> int:
        return 0

    def discard_local(self, service: str, job_id: str) -> None:
        pass        # the folder is the store: a job's files stay until the job is deleted

    def open(self, service_part: str, job_id: str, rest: str, *, head: bool = False,
             byte_range: str | None = None) -> StoredFile | None:
        folder = (self.data_dir / "arcgisjobs").resolve() / service_part / job_id
        try:
            target = (folder / rest).resolve()
            if not target.is_relative_to(folder.resolve()) or not target.is_file():
                return None
        except (OSError, ValueError):       # NUL bytes, names too long...
            return None
        return StoredFile(name=target.name, path=target)

    def delete_job(self, service: str, job_id: str) -> None:
        shutil.rmtree(job_root(self.data_dir, service, job_id), ignore_errors=True)

    def save_upload(self, filename: str, source: BinaryIO, limit: int) -> Upload:
        item_id, target = save_upload(self.data_dir, filename, source, limit)
        return Upload(item_id, target.name, target.stat().st_mtime)

    def uploads(self, job_folder: Path | None) -> Path:
        return uploads_dir(self.data_dir)

    def purge_uploads(self, older_than: float) -> int:
        return purge_uploads(self.data_dir, older_than)


# -- S3-compatible object storage -----------------------------------------------------------------
class S3Files:
    """Job files and uploads as objects (module docstring). One boto3 client per process,
    made on first use (boto3 clients are thread-safe; a forked worker makes its own)."""

    remote = True
    PUBLISH_THREADS = 8

    def __init__(self, url: str, data_dir: Path, *, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        self.url, self.bucket = url, bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.data_dir = Path(data_dir)
        self.endpoint_url, self.region = endpoint_url, region
        self._client: Any = None
        self._pid = 0

    # -- plumbing
    @property
    def client(self) -> Any:
        if self._client is None or self._pid != os.getpid():
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise FileStoreError(f"files_url is {self.url}, but boto3 is not installed: "
                                     "pip install 'opengp[s3]'") from None
            config = Config(
                connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                # MinIO, Ceph...: bucket in the path, and checksums only where S3 requires them
                # (older S3-compatible stores refuse the CRC headers botocore 1.36 sends by default)
                s3={"addressing_style": "path"} if self.endpoint_url else {},
                request_checksum_calculation="when_required", response_checksum_validation="when_required")
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config)
            self._pid = os.getpid()
        return self._client

    def _failed(self, exc: Exception, doing: str) -> FileStoreError:
        """botocore's error, in a sentence that names the store and what to check."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        if isinstance(exc, FileStoreError):
            return exc
        if not isinstance(exc, ClientError) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__       # boto3's transfers wrap it ("Failed to upload ... to ...: ...")
        if isinstance(exc, NoCredentialsError):
            why = "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        elif isinstance(exc, EndpointConnectionError):
            why = f"cannot connect to {self.endpoint_url or 'the S3 endpoint'}"
        elif isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("NoSuchBucket", "404"):
                why = f"the bucket '{self.bucket}' does not exist"
            elif code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                why = f"access denied ({code}; check the AWS credentials and the bucket's policy)"
            else:
                why = f"{code}: {error.get('Message') or exc}"
        else:
            why = str(exc) or type(exc).__name__
        return FileStoreError(f"The file store {self.url} failed while {doing}: {why}.")

    @staticmethod
    def _missing(exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("NoSuchKey", "404", "NotFound")

    def _job_prefix(self, service_part: str, job_id: str) -> str:
        return f"{self.prefix}arcgisjobs/{service_part}/{job_id}/"

    def _keys(self, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):       # DeleteObjects takes 1000 keys at most
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise FileStoreError(f"The file store {self.url} failed while deleting {first.get('Key')}: "
                                     f"{first.get('Code')}: {first.get('Message')}.")

    # -- FileStore
    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise self._failed(exc, "checking the bucket") from None

    def publish_job(self, service: str, job_id: str) -> int:
        root = job_root(self.data_dir, service, job_id)
        scratch = root / "scratch"
        files = _regular_files(scratch)
        base = self._job_prefix(service_dir(service), job_id) + "scratch/"

        def put(path: Path) -> None:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self.client.upload_file(str(path), self.bucket, base + path.relative_to(scratch).as_posix(),
                                    ExtraArgs={"ContentType": kind})

        try:
            if len(files) == 1:
                put(files[0])
            elif files:
                with ThreadPoolExecutor(min(self.PUBLISH_THREADS, len(files)), "opengp-publish") as pool:
                    list(pool.map(put, files))
        except Exception as exc:
            raise self._failed(exc, "storing the job's files") from None
        shutil.rmtree(root, ignore_errors=True)
        return len(files)

    def discard_local(self, service: str, job_id: str) -> None:
        shutil.rmtree(job_root(self.data_dir, service, job_id), ignore_errors=True)

    def open(self, service_part: str, job_id: str, rest: str, *, head: bool = False,
             byte_range: str | None = None) -> StoredFile | None:
        parts = [*service_part.split("/"), job_id, *rest.split("/")]
        if any(p in ("", ".", "..") or "\x00" in p for p in parts):
            return None
        key = self._job_prefix(service_part, job_id) + rest
        wanted = byte_range if byte_range and _RANGE.match(byte_range.strip()) and not head else None
        try:
            if head:
                answer = self.client.head_object(Bucket=self.bucket, Key=key)
            else:
                answer = self.client.get_object(Bucket=self.bucket, Key=key, **({"Range": wanted} if wanted else {}))
        except Exception as exc:
            if self._missing(exc):
                return None
            if wanted and "InvalidRange" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
                return self.open(service_part, job_id, rest)     # a server may ignore a Range: send it all
            raise self._failed(exc, "reading a job file") from None
        body = answer.get("Body")
        return StoredFile(
            name=key.rsplit("/", 1)[-1], size=int(answer.get("ContentLength", 0)), etag=answer.get("ETag"),
            modified=answer["LastModified"].timestamp() if answer.get("LastModified") else None,
            content_range=answer.get("ContentRange") if wanted else None,
            chunks=body.iter_chunks(1 << 16) if body is not None else None,
            close=body.close if body is not None else (lambda: None))

    def delete_job(self, service: str, job_id: str) -> None:
        shutil.rmtree(job_root(self.data_dir, service, job_id), ignore_errors=True)   # a local scratch left over
        try:
            self._delete([o["Key"] for o in self._keys(self._job_prefix(service_dir(service), job_id))])
        except Exception as exc:
            raise self._failed(exc, f"deleting the files of job {job_id}") from None

    def save_upload(self, filename: str, source: BinaryIO, limit: int) -> Upload:
        item_id, name = new_upload_id(), safe_file_name(filename)
        try:        # a spooled upload knows its size: refuse before sending anything
            size: int | None = source.seek(0, os.SEEK_END)
            source.seek(0)
        except (AttributeError, OSError, ValueError):
            size = None
        if size is not None and size > limit:
            raise ValueError(f"the file is larger than the {limit}-byte upload limit")
        key = f"{self.prefix}uploads/{item_id}/{name}"
        # a file of known size is sent as it is (boto3 reads its parts in parallel); any other
        # stream through a reader that stops at the limit
        body: Any = source if size is not None else _Limited(source, limit)
        try:
            self.client.upload_fileobj(body, self.bucket, key, ExtraArgs={
                "ContentType": mimetypes.guess_type(name)[0] or "application/octet-stream"})
        except ValueError:
            raise
        except Exception as exc:
            if isinstance(exc.__cause__ or exc.__context__, ValueError):    # the limit, seen inside boto3
                raise ValueError(f"the file is larger than the {limit}-byte upload limit") from None
            raise self._failed(exc, "keeping an upload") from None
        return Upload(item_id, name, time.time())

    def uploads(self, job_folder: Path | None) -> "_S3Uploads":
        return _S3Uploads(self, job_folder / "uploads" if job_folder is not None else None)

    def upload_key(self, item_id: str) -> str | None:
        """The object of an upload, or None when there is none (or no longer any)."""
        if not UPLOAD_ID.match(item_id or ""):
            return None
        try:
            answer = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}uploads/{item_id}/",
                                                 MaxKeys=2)
        except Exception as exc:
            raise self._failed(exc, "looking up an upload") from None
        found = answer.get("Contents", [])
        return found[0]["Key"] if len(found) == 1 else None

    def fetch(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, key, str(target))
        except Exception as exc:
            raise self._failed(exc, "copying an upload to the worker") from None

    def purge_uploads(self, older_than: float) -> int:
        try:
            old = [o["Key"] for o in self._keys(f"{self.prefix}uploads/")
                   if o["LastModified"].timestamp() < older_than]
            self._delete(old)
        except Exception as exc:
            raise self._failed(exc, "deleting old uploads") from None
        return len({k.split("/")[-2] for k in old})


class _S3Uploads:
    """``ParseEnv.uploads`` in S3 mode (``gptypes.UploadSource``)."""

    def __init__(self, files: S3Files, into: Path | None) -> None:
        self.files, self.into = files, into

    def locate(self, item_id: str) -> Path | None:
        """At submit: a path naming the file (not copied: the API server only checks the
        itemID). In a job: the file, copied into the job's folder beside ``scratch``."""
        key = self.files.upload_key(item_id)
        if key is None:
            return None
        name = key.rsplit("/", 1)[-1]
        if self.into is None:
            return Path(name)
        target = self.into / item_id / name
        if not target.is_file():
            self.files.fetch(key, target)
        return target


class _Limited:
    """A file object that refuses to be read past ``limit`` bytes (a non-seekable upload)."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self.source, self.limit, self.read_so_far = source, limit, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.read_so_far += len(chunk)
        if self.read_so_far > self.limit:
            raise ValueError(f"the file is larger than the {self.limit}-byte upload limit")
        return chunk


def _regular_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder``; symbolic links are left out (a tool could point
    one at a file of the worker's that must not be published)."""
    out: list[Path] = []
    for top, dirs, names in os.walk(folder):        # does not follow links to folders
        for name in names:
            path = Path(top) / name
            if not path.is_symlink() and path.is_file():
                out.append(path)
    return sorted(out)


__all__ = ["FileStore", "S3Files", "SharedFolder", "StoredFile", "Upload", "open_file_store"]
