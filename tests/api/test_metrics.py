"""``/metrics`` in Prometheus's text format (api/metrics.py, system/metrics.py): what a job and
requests add to it, who may read it, the listener of its own, the sums over ``--processes``,
the waiting and running gauges, and the Grafana dashboard's metrics existing."""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, Server, add_user, free_port

from opengp.system.tally import EVERY

from .helpers import TERMINAL, submit, wait

TOKEN = "metrics-token-for-the-tests-0123"
JOBS = "/arcgis/rest/services/Test/Jobs/GPServer"
SLOW = "/arcgis/rest/services/Demo/Tools/GPServer/Slow"
DASHBOARD = ROOT / "deploy" / "grafana" / "opengp.json"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_settings(srv: Server, **settings: str) -> Server:
    """``srv`` with ``settings`` added to its configuration's [server] table (before it starts)."""
    lines = "".join(f'{name} = "{value}"\n' for name, value in settings.items())
    srv.config.write_text(srv.config.read_text().replace("[server]\n", "[server]\n" + lines, 1))
    return srv


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = with_settings(Server(tmp_path_factory.mktemp("metrics")), metrics_token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(srv: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        yield c


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(url: str, token: str | None = TOKEN, settled: bool = False) -> Samples:
    """A scrape; ``settled``: once every process has added the counts it made until now (each
    does at the latest a second later: system/tally.py; the answering process at once)."""
    if settled:
        time.sleep(EVERY + 0.5)
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")     # the text format
    return parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_job_is_counted_submitted_and_ended_with_its_labels_and_timed(srv, http):
    before = scrape(srv.url, settled=True)
    job_id = submit(http, f"{JOBS}/Add", a="1", b="2")
    assert wait(http, f"{JOBS}/Add", job_id)["jobStatus"] == "esriJobSucceeded"
    failed = submit(http, f"{JOBS}/Fail")
    assert wait(http, f"{JOBS}/Fail", failed)["jobStatus"] == "esriJobFailed"
    after = scrape(srv.url, settled=True)     # in scale-out, the Celery workers count the ends

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    service = {"service": "Test/Jobs"}
    assert grew("opengp_jobs_submitted_total", **service, task="Add") == 1
    assert grew("opengp_jobs_ended_total", **service, task="Add", status="succeeded") == 1
    assert grew("opengp_jobs_ended_total", **service, task="Fail", status="failed") == 1
    assert grew("opengp_jobs_ended_total", **service, task="Add", status="failed") == 0
    assert grew("opengp_job_duration_seconds_count", **service) == 2
    assert grew("opengp_job_duration_seconds_bucket", **service, le="+Inf") == 2
    assert 0 < grew("opengp_job_duration_seconds_sum", **service) < 30
    assert grew("opengp_job_queue_wait_seconds_count", **service) == 2
    # never a job id in a label
    assert not any(job_id in v for _, labels in after for _, v in labels)


def admin_token(srv: Server) -> str:
    password = (srv.data_dir / "demo-admin-password").read_text().strip()
    return httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
        "username": "admin", "password": password, "client": "requestip", "f": "json"}).json()["token"]


def test_an_admin_operation_is_not_counted_as_a_services_job(srv, http):
    """A service's ``edit`` runs as an admin job: it is no job of the service's (no
    submission, no end, no duration, no queue wait in /metrics)."""
    before = scrape(srv.url, settled=True)
    edited = http.post("/arcgis/admin/services/Test/Jobs.GPServer/edit", data={
        "f": "json", "service": json.dumps({"description": "Edited while counting."})},
        headers={"X-Esri-Authorization": f"Bearer {admin_token(srv)}"}).json()
    assert edited["status"] == "success", edited
    after = scrape(srv.url, settled=True)
    for name in ("opengp_jobs_ended_total", "opengp_jobs_submitted_total", "opengp_job_duration_seconds_count",
                 "opengp_job_queue_wait_seconds_count"):
        grown = {labels: v - before.get((n, labels), 0.0) for (n, labels), v in after.items()
                 if n == name and v != before.get((n, labels), 0.0)}
        assert grown == {}, (name, grown)


def test_requests_are_counted_by_route_class_and_status_and_timed(srv, http):
    job_id = submit(http, f"{JOBS}/Add", a="2")
    wait(http, f"{JOBS}/Add", job_id)
    before = scrape(srv.url, settled=True)
    for _ in range(3):
        assert http.get(f"{JOBS}/Add/jobs/{job_id}", params={"f": "json"}).status_code == 200   # a poll
    assert http.get(f"{JOBS}/Add/jobs/{job_id}/results/result", params={"f": "json"}).status_code == 200
    assert http.get("/ogcapi/jobs/no-such-job").status_code == 404
    assert http.get("/no/such/thing").status_code == 404
    after = scrape(srv.url, settled=True)     # in scale-out, two API servers answered

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("opengp_http_requests_total", route="gp_job", code="200") == 3
    assert grew("opengp_http_requests_total", route="gp_results", code="200") == 1
    assert grew("opengp_http_requests_total", route="ogc_job", code="404") == 1
    assert grew("opengp_http_requests_total", route="other", code="404") == 1
    assert grew("opengp_http_requests_total", route="metrics", code="200") == 1     # the first scrape
    assert grew("opengp_http_request_duration_seconds_count", route="gp_job") == 3
    assert grew("opengp_http_request_duration_seconds_bucket", route="gp_job", le="+Inf") == 3
    assert not any("no-such-job" in v or "/no/such" in v for _, labels in after for _, v in labels)


def test_a_live_event_stream_is_counted_apart_and_not_timed(srv, http):
    """A job's server-sent events stay open for the job's life: they are requests of their own
    class, counted, and kept out of the latency histogram (a poll's latency stays a poll's)."""
    job_id = submit(http, f"{JOBS}/Sleep", seconds="1")
    before = scrape(srv.url, settled=True)
    with http.stream("GET", f"{JOBS}/Sleep/jobs/{job_id}/events") as events:
        assert events.status_code == 200 and events.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in events.iter_lines() if line.startswith("data:")]
    assert json.loads(lines[-1][5:])["terminal"] is True
    assert http.get(f"{JOBS}/Sleep/jobs/{job_id}", params={"f": "json"}).status_code == 200
    after = scrape(srv.url, settled=True)     # in scale-out, two API servers answered

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("opengp_http_requests_total", route="gp_events", code="200") == 1
    assert grew("opengp_http_requests_total", route="gp_job", code="200") == 1          # the poll alone
    assert grew("opengp_http_request_duration_seconds_count", route="gp_job") == 1
    assert not any(name.startswith("opengp_http_request_duration_seconds") and ("route", "gp_events") in labels
                   for name, labels in after)


def test_reading_metrics_takes_the_metrics_token_or_an_administrators(srv, http):
    refused = http.get("/metrics")
    assert refused.status_code == 403
    assert "metrics_token" in refused.text and refused.headers["content-type"].startswith("text/plain")
    assert http.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 403
    assert scrape(srv.url, TOKEN)

    assert scrape(srv.url, admin_token(srv))

    add_user(srv.data_dir, "watcher", "user", "watcher-password-1")
    user = httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
        "username": "watcher", "password": "watcher-password-1", "client": "requestip", "f": "json"}).json()["token"]
    assert http.get("/metrics", headers={"Authorization": f"Bearer {user}"}).status_code == 403


def test_without_either_setting_metrics_say_how_to_enable_them(server):
    refused = httpx.get(f"{server.url}/metrics", timeout=30)
    assert refused.status_code == 403
    assert "metrics_token" in refused.text and "metrics_address" in refused.text


@pytest.mark.local_only     # a server of its own: two API servers of one deployment could not share the port
def test_the_metrics_address_serves_metrics_alone_without_a_token(tmp_path):
    port = free_port()
    srv = with_settings(Server(tmp_path), metrics_address=f"127.0.0.1:{port}").start()
    try:
        private = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while value(scrape(private, token=None), "opengp_worker_slots", executor="local", state="free") != 3:
            assert time.monotonic() < deadline, "the three local workers never showed as free slots"
            time.sleep(0.2)     # (workers start after the server answers)
        assert httpx.get(f"{private}/arcgis/rest/info?f=json").status_code == 404
        assert httpx.get(f"{srv.url}/metrics").status_code == 403     # no token set: not on the server's port
    finally:
        srv.stop()


def test_waiting_and_running_jobs_are_read_per_service(srv, http):
    """Five slow demo jobs on a service of four instances: some run (as many as there are
    workers, up to four), the rest wait; the gauges agree with what the jobs say."""
    ids = [submit(http, SLOW, seconds="60", stages="1") for _ in range(5)]
    try:
        deadline = time.monotonic() + 30
        while True:
            statuses = [http.get(f"{SLOW}/jobs/{i}", params={"f": "json"}).json()["jobStatus"] for i in ids]
            samples = scrape(srv.url)
            again = [http.get(f"{SLOW}/jobs/{i}", params={"f": "json"}).json()["jobStatus"] for i in ids]
            running = statuses.count("esriJobExecuting")
            # worker slots are a gauge the executors set as they see their workers (a Celery
            # worker: at its supervisor's tick), so they may lag the jobs' statuses a moment
            busy = sum(v for (name, labels), v in samples.items()
                       if name == "opengp_worker_slots" and ("state", "busy") in labels)
            if statuses == again and running >= 1 and running < 5 and busy >= running and (
                    value(samples, "opengp_jobs_running", service="Demo/Tools") == running):
                break
            assert time.monotonic() < deadline, (statuses, busy, samples)
            time.sleep(0.2)
        assert value(samples, "opengp_jobs_waiting", service="Demo/Tools") == 5 - running
    finally:
        for job_id in ids:
            http.post(f"{SLOW}/jobs/{job_id}/cancel", data={"f": "json"})
        for job_id in ids:
            wait(http, SLOW, job_id, until=TERMINAL)
    samples = scrape(srv.url)
    assert value(samples, "opengp_jobs_running", service="Demo/Tools") == 0
    assert value(samples, "opengp_jobs_waiting", service="Demo/Tools") == 0


def dashboard_metrics() -> set[str]:
    """The metric names the Grafana dashboard's queries use."""
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(json.loads(DASHBOARD.read_text()))
    assert exprs, "the dashboard has no queries"
    return {name for expr in exprs for name in re.findall(r"\bopengp_[a-z_]+", expr)}


def test_every_metric_of_the_grafana_dashboard_is_in_a_real_scrape(srv, http):
    job_id = submit(http, f"{JOBS}/Add", a="3")
    wait(http, f"{JOBS}/Add", job_id)
    served = {name for name, _ in scrape(srv.url)}
    wanted = dashboard_metrics()
    assert {"opengp_jobs_ended_total", "opengp_http_requests_total", "opengp_jobs_waiting"} <= wanted
    assert wanted - served == set()


@pytest.mark.local_only     # a deployment of its own (PostgreSQL, RabbitMQ), whatever the pass
def test_with_two_processes_every_scrape_sums_both(tmp_path):
    """``opengp serve --processes 2``: requests answered by each process; a scrape answered by
    either shows them all."""
    from scaleout import RABBITMQ_URL, Deployment, require_services
    from distributed.test_serve_processes import call, connections_to_each, server_processes

    require_services(RABBITMQ_URL)
    config = tmp_path / "opengp.toml"
    config.write_text(f'[server]\nmetrics_token = "{TOKEN}"\n')
    dep = Deployment(tmp_path, RABBITMQ_URL, config, servers=1, workers=0,
                     extra_env={"OPENGP_PROCESSES": "2"}).start()
    try:
        assert dep.servers[0] is not None
        pids = server_processes(dep.servers[0].pid)
        assert len(pids) == 2
        held = connections_to_each(dep.ports[0], pids)
        assert sorted(held) == pids

        def scrape_through(pid: int) -> Samples:
            conn = held[pid]
            conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            response = conn.getresponse()
            body = response.read().decode()
            assert response.status == 200, body
            return parse(body)

        def info_requests(samples: Samples) -> float:
            return value(samples, "opengp_http_requests_total", route="services", code="200")

        def settled() -> dict[int, float]:
            """What each process's scrape shows once every process has added its last counts
            (each does, at the latest, a second after counting: system/tally.py)."""
            time.sleep(EVERY + 0.5)
            return {pid: info_requests(scrape_through(pid)) for pid in pids}

        before = settled()
        assert len(set(before.values())) == 1, before
        for i in range(10):         # five answered by each process
            call(held[pids[i % 2]], "/arcgis/rest/info")
        after = settled()
        assert after == {pid: before[pid] + 10 for pid in pids}
    finally:
        dep.stop()
