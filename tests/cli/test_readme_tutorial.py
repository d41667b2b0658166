"""The README's tutorial, followed word for word: the commands of steps 1 to 3 are read out of
README.md and run (``opengp`` as this checkout's; the curl calls made with httpx, as curl
would send them), and the files it shows are the files ``opengp init`` writes.  A README
that drifts from ``init`` or from the server fails here."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port, wait_http

README = Path(__file__).resolve().parents[2] / "README.md"


def step(number: int) -> str:
    text = README.read_text()
    start = text.index(f"### {number}. ")
    return text[start:text.index("\n### ", start + 1)]


def blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def commands(block: str) -> list[list[str]]:
    """Each command line of a shell block, without comments, continuation lines joined."""
    joined = block.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def test_the_tutorial_word_for_word(tmp_path: Path) -> None:
    # 1. Start a project: the init command, and the toolbox the README shows is the one it wrote
    [init] = commands(blocks(step(1), "sh")[0])
    assert init[0] == ".venv/bin/opengp" and init[1] == "init"
    done = subprocess.run([sys.executable, "-m", "opengp", *init[1:]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    project = tmp_path / init[2]
    shown = blocks(step(1), "python")[0]
    name, code = shown.split("\n", 1)
    assert name == "# my_toolbox.py" and (project / "my_toolbox.py").read_text() == code
    next_line = next(line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Next:"))
    said = shlex.split(next_line.split("&&", 1)[1])
    assert said[0].startswith("OPENGP_ADMIN_PASSWORD=") and said[-1] == "serve"
    assert Path(said[1]).is_file() and os.access(said[1], os.X_OK), next_line     # a command that exists

    # 2. Serve it: cd, then serve with the administrator's password; the config shown is the one written
    cd, serve = commands(blocks(step(2), "sh")[0])
    assert cd == ["cd", init[2]] and serve[1:] == ["../.venv/bin/opengp", "serve"]
    variable, password = serve[0].split("=", 1)
    assert (project / "opengp.toml").read_text() == blocks(step(2), "toml")[0]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "opengp", "serve", "--port", str(port)], cwd=project,
                            env={**os.environ, variable: password}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(proc, url, None, "opengp serve", 60)
        # 3. Call it with curl: the calls of the first block, against this server
        calls = commands(blocks(step(3), "sh")[0])
        base = calls[0][0].split("=", 1)[1].replace("http://127.0.0.1:8000", url)
        answers, job_id = [], None
        for call in calls[1:]:
            assert call[0] == "curl"
            method = "POST" if "-X" in call else "GET"
            target = next(a for a in call[1:] if "$BASE" in a).replace("$BASE", base)
            data = dict(call[i + 1].split("=", 1) for i, a in enumerate(call) if a == "-d")
            if job_id is not None:
                target = target.replace("<jobId>", job_id)
            answer = httpx.request(method, target, data=data or None, timeout=30)
            assert answer.status_code == 200, (call, answer.text)
            body = answer.json()
            if "submitJob" in target:
                job_id = body["jobId"]
                deadline = time.monotonic() + 60
                while httpx.get(f"{base}/Greet/jobs/{job_id}", params={"f": "json"}).json()["jobStatus"] != \
                        "esriJobSucceeded":
                    assert time.monotonic() < deadline, "the tutorial's job did not succeed"
                    time.sleep(0.1)
            answers.append(body)
        assert [p["name"] for p in answers[0]["parameters"]][:2] == ["name", "times"]
        promised = re.search(r'results/result\?f=pjson"\s+#\s+"(.*)"', blocks(step(3), "sh")[0]).group(1)
        assert answers[-1]["value"] == promised
    finally:
        proc.terminate()
        proc.wait(15)
