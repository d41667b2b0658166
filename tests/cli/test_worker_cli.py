"""Scale-out mode from the command line: refused without a broker or with SQLite, in one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENGP_")}
    return subprocess.run([sys.executable, "-m", "opengp", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**clean, **env})


def test_a_worker_needs_a_broker(tmp_path: Path) -> None:
    done = _run("worker", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2
    assert "No broker" in done.stderr and "broker_url" in done.stderr


def test_a_broker_with_sqlite_is_refused_by_serve_and_worker(tmp_path: Path) -> None:
    for args in (["serve", "--demo"], ["worker"]):
        done = _run(*args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
                    OPENGP_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
        assert done.returncode == 2, done.stderr
        text = " ".join(done.stderr.split())
        assert "needs a PostgreSQL database_url" in text and "input_value" not in text
