"""How ``opengp serve`` runs the app: one process, or ``processes`` of them on one port.

With ``processes = N > 1`` the parent binds the port, then starts N server processes that
all accept on that one socket; the kernel hands each new connection to one of them.  Each
process is spawned (a fresh interpreter) and builds its own app from the parent's settings,
so it has its own event loop, database pool, NOTIFY listener, service refresh, reconciler
and sweepers, exactly as separate ``opengp serve`` instances behind a load balancer would.
The parent serves nothing itself.  Only the scale-out mode allows N > 1 (``Settings``
says why); what must happen once per deployment happens before (the first administrator,
in the parent) or under the store's ``lock("bootstrap")`` (the config file's services).

- **SIGTERM or SIGINT** to the parent: SIGTERM to every process; each stops accepting,
  gives open requests ``GRACE`` seconds and runs its shutdown.  Whatever still runs after
  ``STOP_TIMEOUT`` is killed.  Exit status 0.
- **A process that dies before it ever served** (its start failed: the database is
  unreachable, say) stops them all, exit status 1: it would fail the same way again, and
  the service manager (systemd ``Restart=on-failure``) retries the whole.
- **A process that dies after it served** (a crash, an OOM kill) is replaced at once,
  logged.  After more than ``RESTARTS`` replacements within ``RESTART_WINDOW`` seconds the
  parent gives up as above.
- On Linux each process gets SIGTERM if the parent dies (``PR_SET_PDEATHSIG``), so a
  parent killed with SIGKILL leaves no server behind.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import uvicorn

from ..config import Settings, listen_address
from ..system import metrics
from ..system.logsetup import configure_logging
from ..system.processes import die_with_parent

log = logging.getLogger("opengp.serve")
GRACE = 5                   # seconds open requests get when a server process stops
STOP_TIMEOUT = 20.0         # then the process's shutdown (publisher, store) has until this
RESTARTS = 5                # replacements of crashed processes allowed ...
RESTART_WINDOW = 60.0       # ... within this many seconds

def uvicorn_options(settings: Settings, log_level: str) -> dict[str, Any]:
    # the client address binds tokens and throttles logins: only named proxies may rewrite it
    # log_config None: uvicorn's lines go through this process's one logging set-up (system/logsetup.py),
    # in its format (JSON too) and into the store's log
    options = {"host": settings.host, "port": settings.port, "log_level": log_level, "access_log": False,
               "log_config": None,
               "loop": "uvloop", "http": "httptools", "timeout_graceful_shutdown": GRACE,
               "proxy_headers": bool(settings.trusted_proxies), "forwarded_allow_ips": settings.trusted_proxies or ""}
    if settings.ssl_certfile is not None:
        # HTTPS (the arcgis package's GIS() speaks nothing else: docs/clients.md)
        options.update(ssl_certfile=str(settings.ssl_certfile), ssl_keyfile=str(settings.ssl_keyfile))
    return options


def check_tls(settings: Settings) -> None:
    """Load the certificate and key once before serving, so a wrong path, a key that does not
    match or a password-protected key stops ``opengp serve`` in one line (uvicorn would fail in
    each server process with a traceback).  ValueError says what is wrong."""
    if settings.ssl_certfile is None:
        return
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.ssl_certfile, settings.ssl_keyfile, password=_no_password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ValueError(f"cannot use the certificate {settings.ssl_certfile} with the key "
                         f"{settings.ssl_keyfile}: {getattr(exc, 'strerror', None) or exc}") from None


def _no_password() -> str:
    """Asked for by a key that is encrypted: refused (a server cannot type it in on every start)."""
    raise ValueError("the key is encrypted with a password: give an unencrypted key (readable by this user only)")


def serve(settings: Settings, log_level: str) -> int:
    """Serve until stopped; returns the exit status."""
    from .app import asgi_app

    metrics.use_directory(settings.metrics_directory)     # before any process writes a metric
    if settings.processes > 1:
        return Processes(settings, log_level).run()
    if settings.metrics_address is None:
        uvicorn.run(asgi_app(settings), **uvicorn_options(settings, log_level))
        return 0
    try:
        socks = listening(settings)
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 1
    uvicorn.Server(uvicorn.Config(asgi_app(settings), **uvicorn_options(settings, log_level))).run(sockets=socks)
    return 0


def listening(settings: Settings) -> list[socket.socket]:
    """The sockets a server accepts on: its port, and ``metrics_address`` when set (the app
    tells them apart by the port a request came in on: api/metrics.py).  OSError says which
    could not be bound."""
    socks: list[socket.socket] = []
    try:
        for host, port in [(settings.host, settings.port)] + (
                [listen_address(settings.metrics_address)] if settings.metrics_address else []):
            try:
                socks.append(_bind(host, port))
            except OSError as exc:
                raise OSError(f"{host}:{port}: {exc.strerror or exc}") from None
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


@dataclass
class _Child:
    process: Any        # multiprocessing's SpawnProcess
    ready: Connection   # the read end of a pipe: the process writes to it once it serves

    def served(self) -> bool:
        """Did it ever serve?  (A pipe, not an Event: no POSIX semaphore, so no /dev/shm needed.)"""
        try:
            return self.ready.poll() and bool(self.ready.recv_bytes())
        except (EOFError, OSError):
            return False


class Processes:
    """The parent of ``settings.processes`` server processes (see the module docstring)."""

    def __init__(self, settings: Settings, log_level: str, target: Callable[..., None] | None = None) -> None:
        """``target``: what each process runs (tests pass a stand-in), with the arguments of
        :func:`_server_process`."""
        self.settings, self.log_level = settings, log_level
        self._target = target or _server_process
        self._ctx = mp.get_context("spawn")
        self._settings_json = settings.model_dump_json()
        self._children: list[_Child] = []
        self._restarts: deque[float] = deque()
        self._stopping = False

    def run(self) -> int:
        try:
            socks = listening(self.settings)
        except OSError as exc:
            log.error("cannot listen on %s", exc)
            return 1
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(wake_w)
        status = 0
        try:
            self._children = [self._start(socks) for _ in range(self.settings.processes)]
            log.info("started %d server processes: %s", len(self._children),
                     " ".join(str(c.process.pid) for c in self._children))
            while not self._stopping:
                by_sentinel = {c.process.sentinel: c for c in self._children}
                for ended in wait([*by_sentinel, wake_r], timeout=1.0):
                    if ended == wake_r:
                        os.read(wake_r, 512)
                    elif not self._stopping and not self._replace(by_sentinel[ended], socks):
                        status = 1
                        self._stopping = True
        finally:
            self._stop_all()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_r)
            os.close(wake_w)
            for sock in socks:
                sock.close()
        return status

    def pids(self) -> list[int]:
        return [c.process.pid for c in self._children]

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stopping = True

    def _start(self, socks: list[socket.socket]) -> _Child:
        ready, tell = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=self._target, name="opengp-server",
                                    args=(self._settings_json, socks, tell, self.log_level, os.getpid()))
        process.start()
        tell.close()
        return _Child(process, ready)

    def _replace(self, child: _Child, socks: list[socket.socket]) -> bool:
        """A server process ended on its own: start another, unless it never served or
        processes keep dying; False means stop them all."""
        child.process.join()
        pid, code = child.process.pid, child.process.exitcode
        metrics.process_dead(pid)       # its gauges leave the sums (its counts stay)
        served = child.served()
        child.ready.close()
        if not served:
            log.error("server process %d exited (status %s) before it served: stopping", pid, code)
            return False
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts[0] < now - RESTART_WINDOW:
            self._restarts.popleft()
        if len(self._restarts) > RESTARTS:
            log.error("server processes died %d times within %g s: stopping", len(self._restarts), RESTART_WINDOW)
            return False
        replacement = self._start(socks)
        self._children[self._children.index(child)] = replacement
        log.warning("server process %d died (status %s): started %d instead", pid, code, replacement.process.pid)
        return True

    def _stop_all(self) -> None:
        for child in self._children:
            if child.process.is_alive():
                child.process.terminate()       # SIGTERM: uvicorn's graceful shutdown, then the app's
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in self._children:
            child.process.join(max(0.0, deadline - time.monotonic()))
        for child in self._children:
            if child.process.is_alive():
                log.warning("server process %d did not stop within %g s: killed", child.process.pid, STOP_TIMEOUT)
                child.process.kill()
                child.process.join(5)
            child.ready.close()


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket every server process accepts on (as uvicorn binds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server that tells the parent when it serves."""

    def __init__(self, config: uvicorn.Config, ready: Connection) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._ready.send_bytes(b"serving")


def _server_process(settings_json: str, socks: list[socket.socket], ready: Connection, log_level: str,
                    parent: int) -> None:
    """One server process (spawned): its own app, lifespan and event loop on the shared socket."""
    die_with_parent(parent)
    from .app import asgi_app

    settings = Settings.model_validate_json(settings_json)
    configure_logging(log_level, settings.log_format)
    server = _Server(uvicorn.Config(asgi_app(settings), **uvicorn_options(settings, log_level)), ready)
    server.run(sockets=socks)
    if not server.started:
        sys.exit(3)     # uvicorn's own status for a start that failed
