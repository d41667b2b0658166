"""The FileStore contract, on both stores: the shared folder and S3 (moto's server, see conftest)."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from opengp.core import FileStoreError
from opengp.system.files import job_dir, job_root
from opengp.runtime.storage import FileStore, S3Files, SharedFolder

SERVICE = "Demo/Tools"
PART = "demo/tools_gpserver"


@pytest.fixture(params=["shared", "s3"])
def files(request, tmp_path) -> FileStore:
    if request.param == "shared":
        return SharedFolder(tmp_path)
    s3 = request.getfixturevalue("s3")
    return S3Files(f"s3://{s3.bucket()}/pre/fix", tmp_path, endpoint_url=s3.url)


def _write_job(data_dir: Path, job_id: str) -> None:
    scratch = job_dir(data_dir, SERVICE, job_id)
    (scratch / "sub").mkdir(parents=True)
    (scratch / "out.txt").write_text("hello")
    (scratch / "sub" / "page.html").write_text("<script>alert(1)</script>")
    (scratch / "sub" / "résumé 1.txt").write_text("unicode")
    (scratch / "secret").symlink_to("/etc/hostname")         # never published or served


def _read(files: FileStore, rest: str, job_id: str = "j1", **kwargs) -> bytes | None:
    stored = files.open(PART, job_id, rest, **kwargs)
    if stored is None:
        return None
    if stored.path is not None:
        return stored.path.read_bytes()
    try:
        return b"".join(stored.chunks or [])
    finally:
        stored.close()


def test_a_published_job_is_read_by_its_url_path_and_deleted(files, tmp_path):
    files.check()
    _write_job(tmp_path, "j1")
    files.publish_job(SERVICE, "j1")
    assert _read(files, "scratch/out.txt") == b"hello"
    assert _read(files, "scratch/sub/page.html") == b"<script>alert(1)</script>"
    assert _read(files, "scratch/sub/résumé 1.txt") == b"unicode"
    assert _read(files, "scratch/secret") is None
    _write_job(tmp_path, "j2")
    files.publish_job(SERVICE, "j2")
    for bad in ("scratch/nope.txt", "scratch", "../j2/scratch/out.txt", "scratch/../../j2/scratch/out.txt"):
        assert _read(files, bad) is None, bad
    assert _read(files, "scratch/out.txt", job_id="j3") is None
    # the local folder is the store, or is gone once published
    assert job_root(tmp_path, SERVICE, "j1").is_dir() is (not files.remote)
    files.delete_job(SERVICE, "j1")
    assert _read(files, "scratch/out.txt") is None
    assert not job_root(tmp_path, SERVICE, "j1").exists()
    assert _read(files, "scratch/out.txt", job_id="j2") == b"hello"        # only that job's


def test_an_object_answers_a_byte_range_and_a_head(s3, tmp_path):
    files = S3Files(f"s3://{s3.bucket()}", tmp_path, endpoint_url=s3.url)
    _write_job(tmp_path, "j1")
    files.publish_job(SERVICE, "j1")
    part = files.open(PART, "j1", "scratch/out.txt", byte_range="bytes=1-3")
    assert part is not None and part.size == 3 and part.content_range == "bytes 1-3/5"
    assert b"".join(part.chunks or []) == b"ell"
    head = files.open(PART, "j1", "scratch/out.txt", head=True)
    assert head is not None and head.chunks is None and head.size == 5 and head.etag
    whole = files.open(PART, "j1", "scratch/out.txt", byte_range="bytes=0-1,3-4")     # several: all of it
    assert whole is not None and whole.content_range is None and b"".join(whole.chunks or []) == b"hello"


def test_uploads_are_kept_found_and_purged(files, tmp_path):
    item = files.save_upload("../notes.txt", io.BytesIO(b"from a client"), limit=100)
    assert item.name == "notes.txt" and item.item_id.startswith("i")
    at_submit = files.uploads(None)
    in_job = files.uploads(job_root(tmp_path, SERVICE, "j9"))
    if files.remote:
        assert at_submit.locate(item.item_id) == Path("notes.txt")     # named, not copied
        local = in_job.locate(item.item_id)
        assert local == job_root(tmp_path, SERVICE, "j9") / "uploads" / item.item_id / "notes.txt"
        assert local.read_bytes() == b"from a client"
        assert at_submit.locate("i" + "0" * 32) is None and at_submit.locate("../x") is None
    else:
        assert (at_submit / item.item_id / "notes.txt").read_bytes() == b"from a client"
    with pytest.raises(ValueError, match="upload limit"):
        files.save_upload("big.bin", io.BytesIO(b"x" * 101), limit=100)
    with pytest.raises(ValueError, match="upload limit"):       # a stream that does not know its size
        files.save_upload("big.bin", _Unsized(b"x" * 101), limit=100)
    assert files.purge_uploads(time.time() - 60) == 0
    assert files.purge_uploads(time.time() + 60) == 1
    if files.remote:
        assert at_submit.locate(item.item_id) is None


def test_an_unusable_bucket_or_endpoint_is_a_clear_file_store_error(s3, tmp_path):
    with pytest.raises(FileStoreError, match="the bucket 'no-such-bucket' does not exist"):
        S3Files("s3://no-such-bucket", tmp_path, endpoint_url=s3.url).check()
    closed = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(FileStoreError, match=f"cannot connect to {closed}"):
        S3Files("s3://b", tmp_path, endpoint_url=closed).check()
    files = S3Files("s3://no-such-bucket", tmp_path, endpoint_url=s3.url)
    _write_job(tmp_path, "j1")
    with pytest.raises(FileStoreError, match="storing the job's files: the bucket 'no-such-bucket' does not exist"):
        files.publish_job(SERVICE, "j1")
    with pytest.raises(FileStoreError):
        files.open(PART, "j1", "scratch/out.txt")


class _Unsized(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def seek(self, *args):
        raise OSError("not seekable")

    def read(self, size: int = -1) -> bytes:
        return self.data.read(size)


def _closed_port() -> int:
    from conftest import free_port

    return free_port()      # bound and released: nothing listens there


@pytest.mark.parametrize("url,problem", [
    ("http://bucket/prefix", "must be s3://bucket"),
    ("s3://", "must be s3://bucket"),
    ("s3://key:secret@bucket/prefix", "takes no credentials"),
])
def test_files_url_is_an_s3_url_without_credentials(url, problem):
    from opengp.config import Settings

    with pytest.raises(ValueError, match=problem):
        Settings(files_url=url)
    assert Settings(files_url="s3://bucket/a/b/").files_url == "s3://bucket/a/b"
    assert Settings().files_url is None
