"""Job files and uploads in S3-compatible storage, through HTTP against real ``opengp serve``
processes configured with ``files_url = "s3://..."``.

The S3 endpoint is moto's standalone server (tests/storage/conftest.py): it stands in for
Amazon S3 and MinIO, neither of which can run here. The servers reach it over HTTP with
boto3, as they would reach MinIO.
"""
from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from conftest import TOOLBOXES, Server, add_user, client_as, free_port
from api.helpers import DEMO_PRODUCTS, demo_product, error_of, submit, wait

CONFIG = """
[server]
workers = 2
heartbeat_interval = 1.0
purge_interval = 0.5
files_url = "{files_url}"
s3_endpoint_url = "{endpoint}"

[[services]]
folder = "Test"
name = "Jobs"
toolbox = "{toolbox}"
max_usage_time = 20
public = true

[[services]]
folder = "Test"
name = "Brief"
toolbox = "{toolbox}"
retention = 1
public = true

[[services]]
folder = "Test"
name = "Doomed"
toolbox = "{toolbox}"
public = true

[[services]]
folder = "Test"
name = "Sync"
toolbox = "{toolbox}"
execution_type = "synchronous"
max_usage_time = 10
public = true
"""
ROOT_PASSWORD = "root password"
GP = "/arcgis/rest/services/Test/Jobs/GPServer"
ADMIN = "/arcgis/admin/services"


def s3_server(tmp, s3, bucket: str, *, endpoint: str | None = None, demo: bool = False) -> Server:
    server = Server(tmp, demo=demo)
    server.config.write_text(CONFIG.format(files_url=f"s3://{bucket}/jobs", endpoint=endpoint or s3.url,
                                           toolbox=TOOLBOXES / "testing.py"))
    add_user(server.data_dir, "root", "administrator", ROOT_PASSWORD)
    return server


@pytest.fixture(scope="module")
def bucket(s3) -> str:
    return s3.bucket()


@pytest.fixture(scope="module")
def srv(tmp_path_factory, s3, bucket):
    server = s3_server(tmp_path_factory.mktemp("s3srv"), s3, bucket, demo=True).start()   # demo: a product service
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv):
    with client_as(srv, "root", ROOT_PASSWORD) as c:
        yield c


def job_keys(s3, bucket: str, service: str, job_id: str) -> list[str]:
    return s3.keys(bucket, f"jobs/arcgisjobs/{service}_gpserver/{job_id}/")


def write_file(c: httpx.Client, text: str, service: str = "Test/Jobs") -> tuple[str, str]:
    """Run WriteFile; returns (job id, its result file's URL)."""
    task = f"/arcgis/rest/services/{service}/GPServer/WriteFile"
    job_id = submit(c, task, text=text)
    done = wait(c, task, job_id)
    assert done["jobStatus"] == "esriJobSucceeded", done
    url = c.get(f"{task}/jobs/{job_id}/results/result", params={"f": "json"}).json()["value"]["url"]
    return job_id, url


def test_a_result_file_is_stored_in_the_bucket_and_served_under_its_usual_url(srv, root, s3, bucket):
    text = "héllo from the object store"
    job_id, url = write_file(root, text)
    assert url == f"{srv.url}/arcgis/rest/directories/arcgisjobs/test/jobs_gpserver/{job_id}/scratch/out.txt"
    assert job_keys(s3, bucket, "test/jobs", job_id) == [
        f"jobs/arcgisjobs/test/jobs_gpserver/{job_id}/scratch/out.txt"]
    assert s3.get(bucket, f"jobs/arcgisjobs/test/jobs_gpserver/{job_id}/scratch/out.txt") == text.encode()
    assert not (srv.data_dir / "arcgisjobs" / "test" / "jobs_gpserver" / job_id).exists()   # scratch removed

    r = root.get(url)       # root's job: the owner's token is needed, as with the shared folder
    assert r.status_code == 200 and r.content == text.encode()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-security-policy"] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-length"] == str(len(text.encode()))
    assert "content-disposition" not in r.headers           # as the shared folder's FileResponse
    assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"] and r.headers["last-modified"]

    part = root.get(url, headers={"Range": "bytes=0-4"})
    assert part.status_code == 206 and part.content == text.encode()[:5]
    assert part.headers["content-range"] == f"bytes 0-4/{len(text.encode())}"
    head = root.head(url)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(text.encode()))


def test_files_of_other_names_and_jobs_are_not_found_in_the_dialect(srv, root):
    job_id, url = write_file(root, "x")
    base = url.rsplit("/", 1)[0]
    for missing in (f"{base}/nope.txt", f"{base}/%2e%2e/scratch/out.txt", f"{base}/.%2E/.%2e/{job_id}/scratch/out.txt",
                    url.replace(job_id, "j" + "0" * 32)):
        r = root.get(missing, params={"f": "json"})
        assert error_of(r)["code"] == 404, missing


def test_deleting_a_job_deletes_its_objects(srv, root, s3, bucket):
    job_id, url = write_file(root, "to be deleted")
    assert job_keys(s3, bucket, "test/jobs", job_id)
    assert root.post(f"{ADMIN}/Test/Jobs.GPServer/jobs/{job_id}/delete", data={"f": "json"}).json() == {
        "status": "success"}
    assert job_keys(s3, bucket, "test/jobs", job_id) == []
    assert error_of(httpx.get(url, params={"f": "json"}))["code"] == 404       # another's: as if there were none
    gone = root.get(url, params={"f": "json"})
    assert error_of(gone) == {"code": 404, "message": f"File '{url.split('arcgisjobs/', 1)[1]}' not found.",
                              "details": []}


def test_an_ogc_dismiss_deletes_the_objects_and_raw_results_stream_from_the_bucket(srv, s3, bucket):
    with httpx.Client(base_url=srv.url + "/ogcapi", timeout=30) as ogc:
        r = ogc.post("/processes/Test.Sync.WriteFile/execution",
                     json={"inputs": {"text": "inline from S3"}, "outputs": {"result": {"transmissionMode": "value"}}})
        assert r.status_code == 200 and r.content == b"inline from S3"
        assert r.headers["content-security-policy"] == "sandbox"
        r = ogc.post("/processes/Test.Jobs.WriteFile/execution", json={"inputs": {"text": "dismiss me"}},
                     headers={"Prefer": "respond-async"})
        job_id = r.json()["jobID"]
        deadline = time.monotonic() + 30
        while ogc.get(f"/jobs/{job_id}").json()["status"] != "successful":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ogc.get(f"/jobs/{job_id}/results").content == b"dismiss me"
        assert job_keys(s3, bucket, "test/jobs", job_id)
        assert ogc.delete(f"/jobs/{job_id}").status_code == 200
        assert job_keys(s3, bucket, "test/jobs", job_id) == []


def test_retention_deletes_the_objects(srv, root, s3, bucket):
    job_id, url = write_file(root, "brief", service="Test/Brief")
    assert job_keys(s3, bucket, "test/brief", job_id)
    deadline = time.monotonic() + 15
    while job_keys(s3, bucket, "test/brief", job_id):
        assert time.monotonic() < deadline, "the job's objects outlived its retention"
        time.sleep(0.2)
    assert error_of(root.get(f"/arcgis/rest/services/Test/Brief/GPServer/jobs/{job_id}",
                             params={"f": "json"}))["code"] == 404


def test_deleting_a_service_deletes_its_jobs_objects(srv, root, s3, bucket):
    job_id, _ = write_file(root, "doomed", service="Test/Doomed")
    assert job_keys(s3, bucket, "test/doomed", job_id)
    assert root.post(f"{ADMIN}/Test/Doomed.GPServer/delete", data={"f": "json"}).json()["status"] == "success"
    assert job_keys(s3, bucket, "test/doomed", job_id) == []


def test_uploads_go_to_the_bucket_and_reach_the_job(srv, root, s3, bucket):
    r = root.post(f"{GP}/uploads/upload", data={"f": "json"}, files={"file": ("notes.txt", "ünïcode notes".encode())})
    item = r.json()["item"]
    assert item["itemName"] == "notes.txt" and item["date"] > 0
    assert s3.keys(bucket, "jobs/uploads/") == [f"jobs/uploads/{item['itemID']}/notes.txt"]
    assert not (srv.data_dir / "uploads" / item["itemID"]).exists()
    job_id = submit(root, f"{GP}/ReadFile", data=json.dumps({"itemID": item["itemID"]}))
    assert wait(root, f"{GP}/ReadFile", job_id)["jobStatus"] == "esriJobSucceeded"
    assert root.get(f"{GP}/ReadFile/jobs/{job_id}/results/result", params={"f": "json"}).json()["value"] == \
        "ünïcode notes"
    assert not (srv.data_dir / "arcgisjobs" / "test" / "jobs_gpserver" / job_id).exists()   # nor its copy
    unknown = root.post(f"{GP}/ReadFile/submitJob", data={"f": "json", "data": json.dumps({"itemID": "i" + "0" * 32})})
    assert error_of(unknown)["code"] == 400


def test_a_product_job_stores_its_map_and_takes_it_along_when_deleted(srv, s3, bucket):
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        job_id, job = demo_product(c, "Standard", 90)
        assert job["status"] == "Succeeded", job
        keys = job_keys(s3, bucket, "demo/topographic", job_id)
        assert len(keys) == 1 and keys[0].endswith(".pdf") and job["outputUrl"].endswith(keys[0].rsplit("/", 1)[1])
        pdf = c.get(job["outputUrl"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and \
            pdf.headers["content-type"] == "application/pdf"
        assert pdf.content == s3.get(bucket, keys[0])
        deleted = c.get(f"{DEMO_PRODUCTS}/jobs/delete", params={"jobId": job_id, "f": "json"}).json()
        assert deleted["success"] is True
        assert job_keys(s3, bucket, "demo/topographic", job_id) == []


def test_a_bucket_that_goes_away_fails_jobs_and_reads_clearly(tmp_path, s3):
    bucket = s3.bucket()
    server = s3_server(tmp_path, s3, bucket).start()
    try:
        with client_as(server, "root", ROOT_PASSWORD) as c:
            before, url = write_file(c, "stored before")
            for key in s3.keys(bucket):
                s3.client.delete_object(Bucket=bucket, Key=key)
            s3.client.delete_bucket(Bucket=bucket)

            job_id = submit(c, f"{GP}/WriteFile", text="nowhere to go")
            done = wait(c, f"{GP}/WriteFile", job_id)
            why = f"The file store s3://{bucket}/jobs failed while storing the job's files: " \
                  f"the bucket '{bucket}' does not exist."
            assert done["jobStatus"] == "esriJobFailed"
            assert why in [m["description"] for m in done["messages"]]
            assert not (server.data_dir / "arcgisjobs" / "test" / "jobs_gpserver" / job_id).exists()

            error = error_of(c.get(url, params={"f": "json"}))      # not a 500, not a stack trace
            assert error["code"] == 503 and "does not exist" in error["message"]
            problem = c.get(f"/ogcapi/jobs/{before}/results")
            assert problem.status_code == 503 and problem.json()["type"].endswith("unavailable")
            # a job whose objects cannot be deleted stays, to be deleted later
            refused = c.post(f"{ADMIN}/Test/Jobs.GPServer/jobs/{before}/delete", data={"f": "json"}).json()
            assert refused["status"] == "error" and refused["code"] == 503, refused
            assert "does not exist" in " ".join(refused["messages"])
            assert c.get(f"{ADMIN}/Test/Jobs.GPServer/jobs/{before}", params={"f": "json"}).json()["jobID"] == before
            # deleting the service still deletes it (past its commit stage nothing is undone)
            gone = c.post(f"{ADMIN}/Test/Jobs.GPServer/delete", data={"f": "json"}).json()
            assert gone["status"] == "success", gone
            assert error_of(c.get("/arcgis/rest/services/Test/Jobs/GPServer", params={"f": "json"}))["code"] == 404
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


@pytest.mark.parametrize("what", ["no bucket", "no endpoint"])
def test_a_server_will_not_start_on_a_store_it_cannot_use(tmp_path, s3, what):
    if what == "no bucket":
        server, why = s3_server(tmp_path, s3, "no-such-bucket"), "the bucket 'no-such-bucket' does not exist"
    else:
        endpoint = f"http://127.0.0.1:{free_port()}"       # nothing listens there
        server, why = s3_server(tmp_path, s3, "b", endpoint=endpoint), f"cannot connect to {endpoint}"
    with pytest.raises(RuntimeError, match=r"server exited \(2\)") as failed:
        server.start()
    text = re.sub(r"\s+", " ", str(failed.value))
    assert "Cannot use the file store: The file store s3://" in text and why in text
    assert "Traceback" not in text
