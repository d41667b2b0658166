"""``opengp jobs``: each command run as a real subprocess against a real server, as a person or
a script would run it (signed in through the environment, a token or a password file)."""
from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest

from api.helpers import wait
from conftest import Server, add_user, client_as, free_port

PASSWORDS = {"root": "root password", "alice": "alice password", "bob": "bob password"}
JOB_ID = re.compile(r"^j[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("jobs-cli"), demo=False)
    add_user(server.data_dir, "root", "administrator", PASSWORDS["root"])
    add_user(server.data_dir, "alice", "user", PASSWORDS["alice"])
    add_user(server.data_dir, "bob", "user", PASSWORDS["bob"])      # his tokens are revoked
    server.start()
    yield server
    server.stop()


def _env(srv: Server, user: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENGP_")}
    env["OPENGP_URL"] = srv.url
    if user is not None:
        env.update(OPENGP_USER=user, OPENGP_PASSWORD=PASSWORDS[user])
    return {**env, **(extra or {})}


def jobs(srv: Server, *args: str, user: str | None = "root", env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``opengp jobs ARGS`` as ``user`` (signed in with OPENGP_USER/OPENGP_PASSWORD)."""
    return subprocess.run([sys.executable, "-m", "opengp", "jobs", *args], env=_env(srv, user, env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


TASK = "/arcgis/rest/services/Test/Jobs/GPServer/{}"


@pytest.fixture(scope="module")
def as_(srv):
    """``as_[name]``: an HTTP client of the server signed in as ``name`` (for jobs a test needs
    but does not submit with the CLI, which costs a process start each)."""
    clients = {name: client_as(srv, name, PASSWORDS[name]) for name in ("root", "alice")}
    yield clients
    for c in clients.values():
        c.close()


def submitted(client: httpx.Client, task: str, finished: bool = False, **params: object) -> str:
    """A job of Test/Jobs submitted over HTTP (and waited for, if ``finished``)."""
    job_id = client.post(TASK.format(task) + "/submitJob", data={"f": "json", **params}).json()["jobId"]
    if finished:
        wait(client, TASK.format(task), job_id)
    return job_id


def one_line_error(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr, done.stderr


def test_submit_watch_and_show_a_job(srv):
    done = jobs(srv, "submit", "Test/Jobs", "Add", "a=2", "b=5", "--watch")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    assert JOB_ID.match(job_id), done.stdout
    assert f"Job {job_id} Succeeded" in done.stderr

    shown = jobs(srv, "show", job_id, "--json")
    assert shown.returncode == 0, shown.stderr
    job = orjson.loads(shown.stdout)
    assert (job["jobId"], job["jobStatus"], job["serviceName"], job["task"]) == (
        job_id, "esriJobSucceeded", "Test/Jobs", "Add")
    assert {p["paramName"]: p["value"] for p in job["inputs"]} == {"a": 2, "b": 5}
    assert job["results"] == [{"paramName": "result", "dataType": "GPLong", "value": 7}]
    assert any(m["description"].startswith("Succeeded at") for m in job["messages"])
    assert job["created"] <= job["started"] <= job["finished"]

    table = jobs(srv, "show", job_id)
    assert table.returncode == 0, table.stderr
    assert "Succeeded" in table.stdout and "Test/Jobs Add" in table.stdout
    assert re.search(r"result\s+.\s+GPLong\s+.\s+7", table.stdout), table.stdout
    assert "Submitted." in table.stdout


def test_submit_takes_a_json_file_with_pairs_over_it(srv, tmp_path):
    params = tmp_path / "params.json"
    params.write_text('{"values": [1.5, 2.5], "label": "from the file"}')
    done = jobs(srv, "submit", "Test/Jobs", "Stats", "--params", str(params), "label=from the pair", "--watch")
    assert done.returncode == 0, done.stderr
    done = jobs(srv, "results", done.stdout.strip())
    assert done.returncode == 0, done.stderr
    values = {p["paramName"]: p["value"] for p in orjson.loads(done.stdout)}
    assert values == {"total": 4.0, "count": 2, "title": "From The Pair"}


@pytest.mark.parametrize("task,params,code,says", [
    ("Sleep", {"seconds": 0.2}, 0, "Succeeded"),
    ("Fail", {"message": "broken on purpose"}, 3, "broken on purpose"),
    ("Sleep", {"seconds": 30}, 5, "TimedOut"),           # Test/Jobs stops a job after 3 s
])
def test_watch_exits_with_the_jobs_outcome(srv, as_, task, params, code, says):
    job_id = submitted(as_["root"], task, **params)
    done = jobs(srv, "watch", job_id)
    assert done.returncode == code, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr


def test_cancel_ends_a_watched_job_cancelled(srv, as_):
    job_id = submitted(as_["root"], "Sleep", seconds=30)
    watching = subprocess.Popen([sys.executable, "-m", "opengp", "jobs", "watch", job_id], env=_env(srv, "root", None),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait(as_["root"], TASK.format("Sleep"), job_id, until={"esriJobExecuting"})
        cancelled = jobs(srv, "cancel", job_id)
        assert cancelled.returncode == 0, cancelled.stderr
        assert re.match(rf"{job_id} Cancel(ling|led)$", cancelled.stdout.strip()), cancelled.stdout
        _, stderr = watching.communicate(timeout=30)
    finally:
        watching.kill()
    assert watching.returncode == 4, stderr
    assert "Cancel requested." in stderr and f"Job {job_id} Cancelled" in stderr


def test_watch_shows_each_stage_as_the_stream_brings_it(srv):
    """Stages half a second apart: a poll a second would miss some; the live stream has each."""
    done = jobs(srv, "submit", "Test/Jobs", "Stages", "count=4", "pause=0.5", "--watch")
    assert done.returncode == 0, done.stderr
    for i in range(1, 5):
        assert f"Executing: Stage {i} of 4" in done.stderr, done.stderr


def test_watch_draws_a_live_bar_in_a_terminal(srv):
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "jobs", "submit", "Test/Jobs", "Stages", "count=2",
                             "pause=0.5", "--watch"], env=_env(srv, "root", None),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:         # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    assert proc.wait(30) == 0
    text = seen.decode(errors="replace")
    assert "Executing: Stage 2 of 2" in text and "━" in text and "100%" in text     # the bar, drawn live


class _RefusesStreams(BaseHTTPRequestHandler):
    """A proxy that answers 502 to event streams (as some proxies do) and passes the rest on."""

    upstream = ""
    paths: list[str] = []

    def _forward(self) -> None:
        type(self).paths.append(self.path)
        if "/events" in self.path and "once=true" not in self.path:
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        answer = httpx.request(self.command, self.upstream + self.path, headers=headers, content=body, timeout=30)
        self.send_response(answer.status_code)
        for k, v in answer.headers.items():
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def refusing_streams(srv: Server) -> Iterator[tuple[str, list[str]]]:
    """A proxy to ``srv`` that refuses event streams: its URL, and the paths asked of it."""
    _RefusesStreams.upstream, _RefusesStreams.paths = srv.url, []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RefusesStreams)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", _RefusesStreams.paths
    finally:
        proxy.shutdown()


def test_watch_polls_when_the_stream_is_refused(srv):
    with refusing_streams(srv) as (url, paths):
        done = jobs(srv, "submit", "Test/Jobs", "Stages", "count=2", "pause=0.5", "--watch", env={"OPENGP_URL": url})
    assert done.returncode == 0, done.stderr
    assert "Succeeded" in done.stderr
    events = [p for p in paths if "/events" in p]
    assert "once=true" not in events[0] and any("once=true" in p for p in events), events


def test_a_revoked_token_is_renewed_while_watching(srv):
    """The CLI signs in again with the password it was given (a token expiring during a long
    watch is refused the same way)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENGP_")}, **srv.env}
    with refusing_streams(srv) as (url, paths):       # polling: a request each second
        watching = subprocess.Popen(
            [sys.executable, "-m", "opengp", "jobs", "submit", "Test/Jobs", "Sleep", "seconds=2.5", "--watch"],
            env=_env(srv, "bob", {"OPENGP_URL": url}), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        subprocess.run([sys.executable, "-m", "opengp", "users", "revoke", "bob", "--data-dir", str(srv.data_dir)],
                       env=env, check=True, capture_output=True, timeout=60)
        _, stderr = watching.communicate(timeout=30)
    assert watching.returncode == 0, stderr
    assert sum("generateToken" in p for p in paths) == 2, paths


def test_list_filters_pages_and_needs_an_administrator(srv, as_):
    earlier = submitted(as_["alice"], "Noop")
    time.sleep(0.01)
    before = datetime.now(timezone.utc).isoformat()
    mine = [submitted(as_["alice"], "Noop", value=i) for i in range(3)]
    submitted(as_["root"], "Noop")      # someone else's

    done = jobs(srv, "list", "Test/Jobs", "--owner", "alice", "--since", before, "--json")
    assert done.returncode == 0, done.stderr
    page = orjson.loads(done.stdout)
    assert set(page["results"]) == set(mine) and page["total"] == 3
    until = orjson.loads(jobs(srv, "list", "Test/Jobs", "--owner", "alice", "--until", before, "--json").stdout)
    assert earlier in until["results"] and not set(mine) & set(until["results"])

    table = jobs(srv, "list", "Test/Jobs", "--owner", "alice", "--since", before, "-n", "2")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if JOB_ID.search(line.split("│")[1].strip() if "│" in line else "")]
    assert len(rows) == 2 and all("Noop" in r and "alice" in r for r in rows), table.stdout
    assert "1-2 of 3; next page: --start 3 --until " in table.stderr
    next_page = table.stderr.split("next page: ")[1].split()
    rest = jobs(srv, "list", "Test/Jobs", "--owner", "alice", "--since", before, "--json", *next_page)
    assert list(orjson.loads(rest.stdout)["results"]) == [mine[0]]      # newest first: the oldest is last

    one_line_error(jobs(srv, "list", "Test/Jobs", "--status", "lost"), 1, "Unknown jobStatus 'lost'")
    one_line_error(jobs(srv, "list", "Test/Jobs", user="alice"), 1, "not authorized to administer")


def test_delete_removes_the_job(srv, as_):
    job_id = submitted(as_["root"], "Noop")
    done = jobs(srv, "delete", job_id)
    assert (done.returncode, done.stdout.strip()) == (0, f"{job_id} deleted"), done.stderr
    one_line_error(jobs(srv, "show", job_id), 1, f"No job '{job_id}'")


def test_results_download_writes_files_and_values(srv, as_, tmp_path):
    file_job = submitted(as_["root"], "WriteFile", True, text="hello from the cli")  # root's: the file needs the token
    value_job = submitted(as_["root"], "Noop", True, value="forty-two")
    done = jobs(srv, "results", file_job, "--download", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / "out" / "out.txt")]
    assert (tmp_path / "out" / "out.txt").read_text() == "hello from the cli"
    done = jobs(srv, "results", value_job, "--download", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert orjson.loads((tmp_path / "out" / "result.json").read_bytes()) == "forty-two"


def test_signing_in_with_a_token_or_a_password_file(srv, as_, tmp_path):
    job_id = submitted(as_["alice"], "Noop")
    one_line_error(jobs(srv, "show", job_id, user=None), 1, f"No job '{job_id}'")      # someone's job: not shown
    token = httpx.post(f"{srv.url}/arcgis/tokens/generateToken", data={
        "username": "alice", "password": PASSWORDS["alice"], "client": "requestip", "f": "json"}).json()["token"]
    assert jobs(srv, "show", job_id, user=None, env={"OPENGP_TOKEN": token}).returncode == 0
    secret = tmp_path / "password"
    secret.write_text(PASSWORDS["alice"] + "\n")
    done = jobs(srv, "show", job_id, "--user", "alice", "--password-file", str(secret), user=None)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("args,user,env,code,says", [
    (["show", "j0"], "root", {"OPENGP_PASSWORD": "wrong password"}, 1, "Invalid username or password"),
    (["show", "j0"], "root", {"OPENGP_TOKEN": "not a token"}, 2, "--token or --user, not both"),
    (["show", "j0", "--token", "not a token"], None, {}, 1, "The token is invalid"),
    (["show", "j0", "--user", "alice"], None, {}, 2, "No password for alice"),     # and no terminal to ask on
    (["submit", "Test/Jobs", "Add", "a"], "root", {}, 2, "Parameters are name=value, not 'a'"),
    (["submit", "Test/Jobs", "Add", "--params", "/no/such/file.json"], "root", {}, 2, "Cannot read --params"),
    (["show", "j0", "--url", "ftp://example.com"], None, {}, 2, "--url must be an http://"),
    (["results", "j0", "--url", "http://127.0.0.1:{free}"], None, {}, 1, "Cannot reach http://127.0.0.1:"),
])
def test_errors_are_one_line_with_their_exit_code(srv, args, user, env, code, says):
    args = [a.replace("{free}", str(free_port())) for a in args]
    one_line_error(jobs(srv, *args, user=user, env=env), code, says)
