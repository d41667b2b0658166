"""Redis as the broker: jobs run, and a cancel reaches a running job."""
from __future__ import annotations

from api.helpers import submit, wait

from .helpers import clients, stored

JOBS = "/Dist/Jobs/GPServer"


def test_jobs_run_and_cancel_with_redis_as_the_broker(redis_deployment):
    (c,) = clients(redis_deployment)
    ids = [submit(c, f"{JOBS}/Add", a=str(i)) for i in range(3)]
    for job_id in ids:
        assert wait(c, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"
        assert stored(redis_deployment, job_id).attempts == 1
    job_id = submit(c, f"{JOBS}/Stubborn", seconds="60")
    wait(c, f"{JOBS}/Stubborn", job_id, until={"esriJobExecuting"})
    c.post(f"{JOBS}/Stubborn/jobs/{job_id}/cancel", data={"f": "json"})
    assert wait(c, f"{JOBS}/Stubborn", job_id, timeout=10)["jobStatus"] == "esriJobCancelled"
