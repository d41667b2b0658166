"""``opengp serve --processes N``: more than one process only in scale-out mode, refused in one clear line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _serve(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENGP_")}
    return subprocess.run([sys.executable, "-m", "opengp", "serve", "--demo", "--data-dir", str(cwd / "data"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=60, env={**clean, **env})


def test_several_processes_on_sqlite_are_refused(tmp_path: Path) -> None:
    done = _serve("--processes", "2", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    text = " ".join(done.stderr.split())
    assert "processes = 2 needs PostgreSQL" in text and "SQLite" in text and "input_value" not in text
    assert not (tmp_path / "data" / "opengp.db").exists()      # refused before anything was opened


def test_several_processes_without_a_broker_are_refused(tmp_path: Path) -> None:
    done = _serve(cwd=tmp_path, OPENGP_PROCESSES="3",
                  OPENGP_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")     # never reached
    assert done.returncode == 2, done.stderr
    text = " ".join(done.stderr.split())
    assert "processes = 3 needs a broker (broker_url)" in text and "local workers" in text


def test_one_process_is_the_default_everywhere(tmp_path: Path) -> None:
    from opengp.config import load_settings

    assert load_settings(None, data_dir=tmp_path).processes == 1
    config = tmp_path / "opengp.toml"
    config.write_text('[server]\nprocesses = 2\ndatabase_url = "postgresql+psycopg://h/db"\n'
                      'broker_url = "amqp://guest:guest@127.0.0.1:5672//"\n')
    assert load_settings(config).processes == 2
