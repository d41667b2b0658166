"""What every third-party client test needs: a deadline on each client call (a
client stuck polling fails the test instead of hanging it) and no name
resolution beyond the loopback (nothing leaves the machine)."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def call(fn: Callable[..., Any], *args: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
    """Run one client call in a daemon thread; fail the test if it outlives ``timeout``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed back to the test thread
            box["error"] = e

    worker = threading.Thread(target=run, name=f"client-{getattr(fn, '__name__', 'call')}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        pytest.fail(f"client call {getattr(fn, '__name__', fn)!r} still running after {timeout:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def loopback_only() -> Iterator[list[str]]:
    """For a module fixture: refuse to resolve anything but the loopback; yields the names asked for."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOOPBACK:
            asked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"tests are offline: refused to resolve {name!r}")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", resolve)
        yield asked
    assert asked == [], f"the client tried to reach {sorted(set(asked))}"
