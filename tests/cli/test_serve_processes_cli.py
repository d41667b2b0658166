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


# -- the parent's rules, with a stand-in for the server process (no database needed) ----------------
def _stand_in(settings_json: str, socks, ready, log_level: str, parent: int) -> None:
    """Runs in each spawned process instead of uvicorn: as $STAND_IN says (``socks``: the
    server's port, then metrics_address's when set)."""
    import signal
    import time

    mode = os.environ["STAND_IN"]
    if mode == "fails-to-start":
        sys.exit(3)
    ready.send_bytes(b"serving")
    if mode == "crashes":
        time.sleep(0.05)
        os._exit(1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socks[0]
    sock.listen(16)
    while True:                 # each connection hears which process took it
        conn, _ = sock.accept()
        conn.sendall(str(os.getpid()).encode())
        conn.close()


def _parent(tmp_path: Path):  # type: ignore[no-untyped-def]
    from conftest import free_port
    from opengp.api.serving import Processes
    from opengp.config import Settings

    settings = Settings(data_dir=tmp_path, port=free_port(), processes=2, database_url="postgresql+psycopg://h/db",
                        broker_url="amqp://guest:guest@127.0.0.1:5672//")
    return Processes(settings, "warning", target=_stand_in)


def _who(port: int) -> int | None:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return int(s.recv(32) or 0) or None
    except (OSError, ValueError):
        return None


def test_a_process_that_fails_to_start_stops_them_all(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STAND_IN", "fails-to-start")
    parent = _parent(tmp_path)
    assert parent.run() == 1
    assert all(not _alive(pid) for pid in parent.pids())


def test_processes_that_keep_dying_are_given_up_on(tmp_path: Path, monkeypatch) -> None:
    from opengp.api import serving

    monkeypatch.setenv("STAND_IN", "crashes")
    parent = _parent(tmp_path)
    started = []
    start = parent._start
    monkeypatch.setattr(parent, "_start", lambda sock: started.append(1) or start(sock))
    assert parent.run() == 1
    assert len(started) == 2 + serving.RESTARTS        # the first two, then each replacement allowed


def test_a_dead_process_is_replaced_and_sigterm_stops_them_all(tmp_path: Path, monkeypatch) -> None:
    import signal
    import threading
    import time

    monkeypatch.setenv("STAND_IN", "serves")
    parent = _parent(tmp_path)
    port = parent.settings.port
    seen: dict[str, object] = {}

    def drive() -> None:
        try:
            deadline = time.monotonic() + 30
            first: set[int] = set()
            while len(first) < 2 and time.monotonic() < deadline:     # both take connections
                pid = _who(port)
                if pid:
                    first.add(pid)
            seen["first"] = set(first)
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            later: set[int] = set()
            while not (later - first) and time.monotonic() < deadline:  # its replacement answers
                pid = _who(port)
                if pid:
                    later.add(pid)
            seen["later"] = later
            seen["pids"] = parent.pids()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)        # to the parent's handler, in this process

    threading.Thread(target=drive, daemon=True).start()
    assert parent.run() == 0
    first, later, pids = seen["first"], seen["later"], seen["pids"]
    assert len(first) == 2, first
    assert later - first and min(first) not in pids, (first, later, pids)
    assert all(not _alive(pid) for pid in [*first, *pids])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
