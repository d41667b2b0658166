"""``opengp serve --reload``: a toolbox edited while the server runs is served as edited, without
a restart by hand (development).  A real server, a real file edit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port, wait_http


def greet(url: str) -> str | None:
    """Run Greet once; its result, or None while the server restarts."""
    base = f"{url}/arcgis/rest/services/MyTools/Starter/GPServer/Greet"
    try:
        job = httpx.post(f"{base}/submitJob", data={"name": "World", "f": "json"}, timeout=10).json()
        deadline = time.monotonic() + 30
        while (status := httpx.get(f"{base}/jobs/{job['jobId']}", params={"f": "json"}).json())["jobStatus"] not in (
                "esriJobSucceeded", "esriJobFailed", "esriJobCancelled", "esriJobTimedOut"):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        if status["jobStatus"] != "esriJobSucceeded":
            return None         # interrupted by the restart
        return httpx.get(f"{base}/jobs/{job['jobId']}/results/result", params={"f": "json"}).json()["value"]
    except (httpx.HTTPError, KeyError, ValueError):
        return None


WAVE = '''

@tool(name="Wave")
def wave(name: str = "World") -> str:
    return f"*waves at {name}*"
'''


def lists_wave(url: str) -> bool:
    try:
        service = httpx.get(f"{url}/arcgis/rest/services/MyTools/Starter/GPServer", params={"f": "json"}).json()
    except (httpx.HTTPError, ValueError):
        return False
    return "Wave" in service.get("tasks", [])


def test_an_edited_toolbox_is_served_as_edited(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "opengp", "init", "proj"], cwd=tmp_path, check=True, capture_output=True)
    project, port = tmp_path / "proj", free_port()
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--reload", "--port", str(port), "--log-level", "warning"], cwd=project,
                            env={**os.environ, "OPENGP_ADMIN_PASSWORD": "first admin password"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(proc, url, None, "opengp serve --reload", 60)
        assert greet(url) == "Hello, World!"
        toolbox = project / "my_toolbox.py"
        # a changed body, and a new task: workers may run the new body as soon as they next load the
        # file, but only the restarted server lists the new task
        toolbox.write_text(toolbox.read_text().replace('f"Hello, {name}!"', 'f"Hi, {name}!"') + WAVE)
        deadline = time.monotonic() + 60
        while (said := greet(url)) != "Hi, World!" or not lists_wave(url):
            assert time.monotonic() < deadline, f"still answering {said!r} a minute after the edit"
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "restarting" in out and "my_toolbox.py" in out, out[-2000:]
    # the whole group ends: no server or worker left behind holding the port or the data folder
    deadline = time.monotonic() + 15
    while (left := subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).stdout) != b"":
        assert time.monotonic() < deadline, f"left running: {left!r}"
        time.sleep(0.2)
