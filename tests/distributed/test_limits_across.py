"""One execution per job and max_instances, across two workers."""
from __future__ import annotations

import time

from api.helpers import submit, wait

from .helpers import clients, executions, stored

ONE = "/Dist/One/GPServer"
JOBS = "/Dist/Jobs/GPServer"


def _doorbell(dep, service: str, times: int) -> None:
    """Publish ``times`` doorbells for ``service``, as an API server does for a submit."""
    from opengp.config import load_settings
    from opengp.executors.celery_app import make_celery, ring

    settings = load_settings(dep.config, database_url=dep.database_url, broker_url=dep.broker_url,
                             queue_prefix=dep.prefix, data_dir=dep.data_dir)
    app = make_celery(settings)
    try:
        for _ in range(times):
            ring(app, settings, service, None)
    finally:
        app.close()


def test_the_same_doorbell_delivered_again_runs_the_job_once(rabbit):
    a, b = clients(rabbit)
    job_id = submit(a, f"{JOBS}/Sleep", seconds="1.5")
    _doorbell(rabbit, "Dist/Jobs", 5)                   # duplicates, while the job is queued or running
    body = wait(b, f"{JOBS}/Sleep", job_id)
    assert body["jobStatus"] == "esriJobSucceeded"
    _doorbell(rabbit, "Dist/Jobs", 3)                   # and after it ended
    time.sleep(1.5)
    body = wait(a, f"{JOBS}/Sleep", job_id)
    assert body["jobStatus"] == "esriJobSucceeded" and executions(body) == 1
    assert stored(rabbit, job_id).attempts == 1


def test_max_instances_holds_across_two_workers_in_submit_order(rabbit):
    a, b = clients(rabbit)
    ids = [submit(c, f"{ONE}/Sleep", seconds="0.6") for c in (a, b, a, b, a)]
    free = submit(b, f"{JOBS}/Add", a="1")              # another service is not held back
    assert wait(a, f"{JOBS}/Add", free, timeout=10)["jobStatus"] == "esriJobSucceeded"
    assert stored(rabbit, ids[-1]).started is None
    for job_id in ids:
        assert wait(a, f"{ONE}/Sleep", job_id, timeout=60)["jobStatus"] == "esriJobSucceeded"
    runs = [stored(rabbit, job_id) for job_id in ids]
    for before, after in zip(runs, runs[1:]):
        assert after.started >= before.finished, "two jobs of a max_instances=1 service ran at once"
    assert all(run.attempts == 1 for run in runs)
