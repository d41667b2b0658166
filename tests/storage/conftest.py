"""An S3-compatible endpoint for the file-store tests: moto's standalone server.

moto's server (PyPI ``moto[server]``) stands in for Amazon S3 and MinIO, neither of which
can run on this machine (only package registries are reachable). It is a real HTTP
endpoint on a free port: opengp's processes reach it with boto3 exactly as they would
reach MinIO (``s3_endpoint_url``, path-style addressing, credentials from the standard
AWS environment variables). Absent moto or boto3 the tests skip (fail under
``OPENGP_REQUIRE_ALL=1``), as ``conftest.require`` says.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import free_port, require

AWS_ENV = {"AWS_ACCESS_KEY_ID": "opengp-test", "AWS_SECRET_ACCESS_KEY": "opengp-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}


class S3Endpoint:
    """moto's server on 127.0.0.1; ``client`` is a boto3 client for looking into buckets."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        import boto3

        self.client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                                   aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])

    def bucket(self) -> str:
        """A new, empty bucket."""
        name = f"opengp-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def get(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError as exc:
        require(False, f"boto3 and moto[server] are needed for the S3 tests ({exc}): pip install -e '.[test,s3]'")
    # the servers started by the tests inherit these; no AWS files of this machine's user are read
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE"]}
    none = tmp_path_factory.mktemp("aws") / "none"
    os.environ.update(AWS_ENV, AWS_CONFIG_FILE=str(none), AWS_SHARED_CREDENTIALS_FILE=str(none))
    os.environ.pop("AWS_PROFILE", None)
    endpoint = S3Endpoint()
    try:
        yield endpoint
    finally:
        endpoint.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def s3_settings(endpoint: S3Endpoint, bucket: str, prefix: str = "jobs") -> dict[str, Any]:
    return {"files_url": f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
            "s3_endpoint_url": endpoint.url}

