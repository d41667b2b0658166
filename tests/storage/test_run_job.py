"""run_job with object storage: outputs are in the bucket before the job reads as succeeded,
and a job deleted while it ran leaves no objects behind. The bucket is on moto's S3 server
(tests/storage/conftest.py), standing in for S3/MinIO, which cannot run here."""
from __future__ import annotations

from typing import Any

from conftest import TOOLBOXES
from opengp.config import ServiceConfig
from opengp.core import Job, Status
from opengp.system.files import job_root
from opengp.runtime.run import run_job
from opengp.runtime.storage import S3Files
from opengp.store.memory import MemoryStore
from opengp.tools.registry import Registry, load_service

SERVICE = ServiceConfig(folder="Test", name="Jobs", toolbox=str(TOOLBOXES / "testing.py"), public=True)


def _run(store: MemoryStore, files: S3Files, tmp_path, task: str = "WriteFile", **inputs: Any) -> tuple[Job, Any]:
    registry = Registry([load_service(SERVICE, TOOLBOXES)])
    job = Job.new("Test/Jobs", task, inputs or {"text": "stored"}, options={"base_url": "http://x"})
    store.create(job.evolve(status=Status.SUBMITTED))
    return job, run_job(job.id, store, registry, tmp_path, worker="test", files=files)


def test_the_files_are_in_the_bucket_when_the_job_succeeds(s3, tmp_path):
    bucket = s3.bucket()
    files = S3Files(f"s3://{bucket}/p", tmp_path, endpoint_url=s3.url)
    seen_at_the_end: list[list[str]] = []

    class Watching(MemoryStore):
        def transition(self, job_id, src, dst, **fields):
            if dst is Status.SUCCEEDED:
                seen_at_the_end.append(s3.keys(bucket))
            return super().transition(job_id, src, dst, **fields)

    job, status = _run(Watching(), files, tmp_path)
    assert status is Status.SUCCEEDED
    assert seen_at_the_end == [[f"p/arcgisjobs/test/jobs_gpserver/{job.id}/scratch/out.txt"]]
    assert not job_root(tmp_path, "Test/Jobs", job.id).exists()


def test_a_job_deleted_while_it_ran_leaves_no_objects(s3, tmp_path):
    bucket = s3.bucket()
    files = S3Files(f"s3://{bucket}", tmp_path, endpoint_url=s3.url)

    class DeletedMeanwhile(MemoryStore):
        def transition(self, job_id, src, dst, **fields):
            if dst.terminal:        # an admin deleted the job just before it ended
                self.delete(job_id)
            return super().transition(job_id, src, dst, **fields)

    job, status = _run(DeletedMeanwhile(), files, tmp_path)
    assert status is None
    assert s3.keys(bucket) == []
    assert not job_root(tmp_path, "Test/Jobs", job.id).exists()


def test_a_tool_error_stays_the_error_and_outputs_that_cannot_be_stored_fail_the_job(s3, tmp_path):
    bucket = s3.bucket()
    files = S3Files(f"s3://{bucket}", tmp_path, endpoint_url=s3.url)
    store = MemoryStore()
    job, status = _run(store, files, tmp_path, task="Fail", message="broken on purpose")
    assert status is Status.FAILED and store.get(job.id).error == "broken on purpose"
    files = S3Files("s3://no-such-bucket", tmp_path, endpoint_url=s3.url)
    job, status = _run(store, files, tmp_path)
    done = store.get(job.id)
    assert status is Status.FAILED and done.results is None
    assert done.error == ("The file store s3://no-such-bucket failed while storing the job's files: "
                          "the bucket 'no-such-bucket' does not exist.")
    assert [m.text for m in done.messages][-2:] == [done.error, "Failed to execute (WriteFile)."]
    assert not job_root(tmp_path, "Test/Jobs", job.id).exists()
