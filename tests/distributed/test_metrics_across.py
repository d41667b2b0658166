"""Metrics of a Celery worker on another machine (docs/operations.md "Metrics"): it serves its
own ``/metrics`` on ``worker_metrics_address``, with the ends of the jobs it ran, and the API
server's scrape does not count them again."""
from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.helpers import submit, wait
from conftest import free_port
from scaleout import RABBITMQ_URL, require_services

from .conftest import Deployment

TOKEN = "metrics-token-for-the-tests-0123"
ADD = "/Dist/Jobs/GPServer/Add"


def ended(text: str, status: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "opengp_jobs_ended_total" and s.labels.get("service") == "Dist/Jobs"
               and s.labels.get("task") == "Add" and s.labels.get("status") == status)


def test_a_worker_elsewhere_serves_the_ends_it_ran_and_the_server_does_not_count_them(tmp_path):
    require_services(RABBITMQ_URL)
    dep = Deployment(tmp_path, RABBITMQ_URL, servers=1, workers=1, extra_env={"OPENGP_METRICS_TOKEN": TOKEN})
    port = free_port()
    try:
        dep.create_database()
        dep.start_server(0)
        # the worker as if on another machine: a metrics directory of its own, and its own port
        dep.extra_env.update({"OPENGP_METRICS_DIR": str(tmp_path / "worker-metrics"),
                              "OPENGP_WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}"})
        dep.start_worker(0)
        dep.wait_worker(0)
        with httpx.Client(base_url=f"{dep.url}/arcgis/rest/services", timeout=30) as client:
            ids = [submit(client, ADD, a=str(i), b="1") for i in range(3)]
            for job_id in ids:
                assert wait(client, ADD, job_id)["jobStatus"] == "esriJobSucceeded"
            deadline = time.monotonic() + 10       # the worker adds its counts once a second
            while True:
                worker = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                assert worker.status_code == 200, worker.text
                if ended(worker.text, "succeeded") >= 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert ended(worker.text, "succeeded") == 3
            assert 'opengp_worker_slots{executor="celery",state="free"}' in worker.text
            server = httpx.get(f"{dep.url}/metrics", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"})
            assert server.status_code == 200, server.text
            assert ended(server.text, "succeeded") == 0       # counted once: where the worker committed
            assert "opengp_jobs_submitted_total" in server.text
    finally:
        dep.stop()


@pytest.fixture(autouse=True)
def _no_leftover_env(monkeypatch):
    """The deployment's processes get their settings from their own environment, not ours."""
    for name in ("OPENGP_METRICS_DIR", "OPENGP_WORKER_METRICS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
