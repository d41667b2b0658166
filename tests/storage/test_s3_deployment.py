"""Object storage in scale-out mode: two API servers and two Celery workers that share
PostgreSQL, RabbitMQ and a bucket, but **no folder**: each process has a ``data_dir`` of
its own, as machines without NFS would. A file written by a worker is served by either
server, and an upload received by one server reaches the worker that runs the job.

The bucket is on moto's S3 server (tests/storage/conftest.py), standing in for S3/MinIO,
which cannot run here. Without PostgreSQL or RabbitMQ the test skips (fails under
``OPENGP_REQUIRE_ALL=1``), as the distributed suite does.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import PG_URL, require
from distributed.conftest import RABBITMQ_URL, Deployment, _reachable
from api.helpers import submit, wait

GP = "/arcgis/rest/services/Dist/Jobs/GPServer"


class SeparateFolders(Deployment):
    """A Deployment whose servers and workers each get their own data_dir, and a bucket."""

    def __init__(self, tmp: Path, broker_url: str, files: dict[str, str], **kwargs) -> None:
        super().__init__(tmp, broker_url, **kwargs)
        self.files, self.own_dir = files, self.data_dir
        self.dirs: list[Path] = []

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.files, "OPENGP_DATA_DIR": str(self.own_dir)}

    def start_server(self, i: int, timeout: float = 60) -> None:
        self.own_dir = self.tmp / f"server{i}-data"
        self.dirs.append(self.own_dir)
        super().start_server(i, timeout)

    def start_worker(self, i: int) -> None:
        self.own_dir = self.tmp / f"worker{i}-data"
        self.dirs.append(self.own_dir)
        super().start_worker(i)


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return s3.bucket()


@pytest.fixture(scope="module")
def dep(tmp_path_factory, s3, bucket) -> Iterator[SeparateFolders]:
    require(_reachable(PG_URL.replace("+psycopg", ""), 5432), f"PostgreSQL at {PG_URL} is not reachable")
    require(_reachable(RABBITMQ_URL, 5672), f"the broker at {RABBITMQ_URL} is not reachable")
    deployment = SeparateFolders(tmp_path_factory.mktemp("s3dep"), RABBITMQ_URL, {
        "OPENGP_FILES_URL": f"s3://{bucket}/dep", "OPENGP_S3_ENDPOINT_URL": s3.url}, concurrency=1)
    try:
        yield deployment.start()
    finally:
        deployment.stop()


def admin(url: str) -> httpx.Client:
    token = httpx.post(f"{url}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": "admin-password-1", "client": "requestip", "f": "json"}).json()["token"]
    return httpx.Client(base_url=url, headers={"X-Esri-Authorization": f"Bearer {token}"}, timeout=30)


def test_workers_and_servers_share_files_through_the_bucket_alone(dep, s3, bucket):
    one, two = admin(dep.urls[0]), admin(dep.urls[1])
    with one, two:
        job_id = submit(one, f"{GP}/WriteFile", text="written on a worker")
        assert wait(one, f"{GP}/WriteFile", job_id)["jobStatus"] == "esriJobSucceeded"
        url = two.get(f"{GP}/WriteFile/jobs/{job_id}/results/result", params={"f": "json"}).json()["value"]["url"]
        path = url.removeprefix(dep.urls[0])          # the server the job was submitted to wrote the link
        for client in (one, two):
            r = client.get(path)
            assert r.status_code == 200 and r.content == b"written on a worker"
        prefix = f"dep/arcgisjobs/dist/jobs_gpserver/{job_id}/"
        assert s3.keys(bucket, prefix) == [prefix + "scratch/out.txt"]
        assert not any((d / "arcgisjobs" / "dist" / "jobs_gpserver" / job_id).exists() for d in dep.dirs)

        item = two.post(f"{GP}/uploads/upload", data={"f": "json"},
                        files={"file": ("notes.txt", b"sent to server two")}).json()["item"]
        assert not any((d / "uploads").exists() and any((d / "uploads").iterdir()) for d in dep.dirs)
        reader = submit(one, f"{GP}/ReadFile", data=json.dumps({"itemID": item["itemID"]}))
        assert wait(one, f"{GP}/ReadFile", reader)["jobStatus"] == "esriJobSucceeded"
        assert one.get(f"{GP}/ReadFile/jobs/{reader}/results/result", params={"f": "json"}).json()["value"] == \
            "sent to server two"

        deleted = two.post(f"/arcgis/admin/services/Dist/Jobs.GPServer/jobs/{job_id}/delete", data={"f": "json"})
        assert deleted.json() == {"status": "success"}
        assert s3.keys(bucket, prefix) == []
        assert one.get(path, params={"f": "json"}).json()["error"]["code"] == 404
