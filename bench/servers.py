"""Start and stop the servers under test as subprocesses.

Every server runs in its own process group (start_new_session), so stopping it also
stops the processes it forked (gunicorn workers, opengp's worker pool) - and only those.
Servers are always stopped in ``finally`` blocks by the caller (``with Server(...)``).
"""
from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


def machine_info() -> dict:
    """What a result file records of the machine and the code that ran."""
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    wrk = shutil.which("wrk")
    wrk_v = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split("\n")[0] if wrk else None
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {"host": socket.gethostname(), "nproc": os.cpu_count(), "cpu_model": cpu,
            "ram_gib": round(mem_kb / 1024 / 1024, 1), "kernel": platform.release(),
            "os": _os_name(), "python": platform.python_version(), "wrk": wrk_v, "opengp_git": git,
            # set when the servers ran another source tree (a before/after comparison)
            "pythonpath": os.environ.get("PYTHONPATH")}


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    pass


class Server:
    """One server subprocess: ``with Server(...) as srv:`` starts it and waits until
    ``ready_url`` answers 200; leaving the block terminates the whole process group."""

    def __init__(self, name: str, cmd: list[str], ready_url: str, log_path: Path,
                 env: dict | None = None, cwd: str | None = None, start_timeout: float = 60.0):
        self.name, self.cmd, self.ready_url, self.log_path = name, cmd, ready_url, log_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with code {self.proc.returncode} while "
                                  f"starting; log: {self.log_path}\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {self.start_timeout}s at {self.ready_url}; "
                          f"log: {self.log_path}\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after 15 s."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # == the group id, thanks to start_new_session
        if self.proc.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:  # stragglers (e.g. worker processes) in the same group
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user+system, incl. reaped children) of the live processes in the group.

        Lets the report show how the 2 cores were split between server and load generator."""
        if self.proc is None:
            return 0.0
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # pgrp
                total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / CLK_TCK

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
