"""The ``opengp`` command: init, and refusing broken setups with one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import free_port, wait_http


def opengp(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "opengp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_init_writes_a_project_that_serves(tmp_path: Path) -> None:
    done = opengp("init", "proj", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "proj"
    assert (project / "opengp.toml").is_file() and (project / "my_toolbox.py").is_file()
    again = opengp("init", "proj", cwd=tmp_path)
    assert "kept" in again.stdout + again.stderr     # never overwrites

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--port", str(port),
                             "--data-dir", str(tmp_path / "data")], cwd=project,
                            env={**os.environ, "OPENGP_ADMIN_PASSWORD": "first admin password"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(proc, url, None, "opengp serve", 30)
        services = httpx.get(f"{url}/arcgis/rest/services/MyTools", params={"f": "json"}).json()
        assert services["services"] == [{"name": "MyTools/Starter", "type": "GPServer"}]
    finally:
        proc.terminate()
        proc.wait(15)


def test_a_broken_toolbox_stops_serve_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "tb.py").write_text(
        "from opengp import tool\n\n@tool(output_name='text')\ndef shout(text: str) -> str:\n    return text\n")
    (tmp_path / "opengp.toml").write_text('[[services]]\nname = "Bad"\ntoolbox = "tb.py"\n')
    done = opengp("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2
    out = " ".join((done.stdout + done.stderr).split())
    assert "Cannot load toolboxes: service 'Bad'" in out and "repeated: text" in out
    assert "Traceback" not in out


def test_nothing_to_serve_says_what_to_do(tmp_path: Path) -> None:
    done = opengp("serve", cwd=tmp_path)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert "--demo" in out and "opengp init" in out


def test_a_server_never_starts_without_an_administrator(tmp_path: Path) -> None:
    opengp("init", "proj", cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "OPENGP_ADMIN_PASSWORD"}
    done = subprocess.run([sys.executable, "-m", "opengp", "serve", "--port", str(free_port()),
                           "--data-dir", str(tmp_path / "data")], cwd=tmp_path / "proj", env=env,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "no administrator yet" in " ".join(done.stderr.split()) and "OPENGP_ADMIN_PASSWORD" in done.stderr


def test_the_demo_generates_an_administrator_and_says_how_to_log_in(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "OPENGP_ADMIN_PASSWORD"}
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--demo", "--port", str(port),
                             "--data-dir", str(tmp_path / "data")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(proc, url, None, "opengp serve", 30)
        password = (tmp_path / "data" / "demo-admin-password").read_text().strip()
        assert oct((tmp_path / "data" / "demo-admin-password").stat().st_mode & 0o777) == "0o600"
        token = httpx.post(f"{url}/arcgis/tokens/generateToken",
                           data={"username": "admin", "password": password, "client": "requestip", "f": "json"})
        assert "token" in token.json()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0]
    said = " ".join(out.split())
    assert "demo administrator: user admin, password: cat " in said and "demo-admin-password" in said
    assert "opengp serving 2 GP services, 1 product service and 1 feature service at" in said
    assert password not in out                     # the log says where, never what


def test_the_data_folder_is_the_server_users_alone(tmp_path: Path) -> None:
    """The SQLite file (password hashes, every job's inputs and results) was created 0644 and the
    job and upload folders 0755: readable by every user of the machine."""
    import json
    import stat
    import time

    data = tmp_path / "data"
    data.mkdir(mode=0o755)                    # made by an earlier version, or by hand
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--demo", "--port", str(port),
                             "--data-dir", str(data)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(proc, url, None, "opengp serve", 30)
        tools = f"{url}/arcgis/rest/services/Demo/Tools/GPServer"
        points = {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326},
                  "features": [{"geometry": {"x": 1, "y": 2}, "attributes": {"n": 1}}]}
        job = httpx.post(f"{tools}/WriteReport/submitJob", data={"f": "json", "input_features": json.dumps(points)}).json()
        upload = httpx.post(f"{tools}/uploads/upload", data={"f": "json"}, files={"file": ("a.txt", b"x")}).json()
        deadline = time.monotonic() + 30
        while httpx.get(f"{tools}/WriteReport/jobs/{job['jobId']}", params={"f": "json"}).json()["jobStatus"] != "esriJobSucceeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(15)
    report = next(data.glob("arcgisjobs/**/report.csv"))
    uploaded = data / "uploads" / upload["item"]["itemID"] / "a.txt"
    made = [data / "opengp.db", data / "secret.key", report, uploaded]
    folders = [data, report.parent, report.parent.parent, data / "arcgisjobs", data / "uploads", uploaded.parent]
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in made + folders}
    assert modes == {**{str(p.relative_to(tmp_path)): "0o600" for p in made},
                     **{str(p.relative_to(tmp_path)): "0o700" for p in folders}}, modes
