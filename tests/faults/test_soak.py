"""The soak harness, short: two minutes of bench/soak.py's mixed load (submits, polls, lists,
pages, uploads, product jobs) at about half of this machine's capacity, failing on any error,
and on memory, open files or threads that keep growing after the first 30 s.  The 60-minute
run and its figures: docs/performance.md."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.timeout(400)
def test_two_minutes_of_mixed_load_without_an_error_or_a_leak(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "soak.py"), "--minutes", "2", "--warmup", "0.5",
                           "--scale", "8", "--sample", "15", "--out", str(tmp_path)], capture_output=True, text=True, timeout=380)
    reports = list(tmp_path.glob("*-soak.json"))
    assert reports, done.stdout + done.stderr
    report = json.loads(reports[0].read_text())
    assert report["errors"] == {}, (report["errors"], report["error_examples"])
    assert sum(report["samples"][-1]["done"].values()) > 1000, report["samples"][-1]["done"]
    assert report["goals_met"], {k: v for k, v in report.items() if k not in ("samples", "machine")}
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
