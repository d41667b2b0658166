"""Failed-login throttling: ``LoginThrottle`` counts failures per key; ``LoginGuard`` decides
which keys a failed login counts against."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    """After ``attempts`` failures within ``window`` seconds for one key, further
    logins for it are refused until the oldest failure ages out."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def wait_time(self, *keys: str) -> float:
        """Seconds before any of ``keys`` may try again (0 when allowed)."""
        now = time.monotonic()
        longest = 0.0
        with self._lock:
            for key in keys:
                failures = self._failures.get(key)
                if not failures:
                    continue
                while failures and now - failures[0] >= self.window:
                    failures.popleft()
                if len(failures) >= self.attempts:
                    longest = max(longest, self.window - (now - failures[0]))
        return longest

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures[key].append(now)
                if len(self._failures) > 100_000:      # bounded memory under a spray of names
                    self._failures.pop(next(iter(self._failures)))

    def forgive_one(self, key: str) -> None:
        """Take back the newest failure of ``key`` (an attempt counted in advance succeeded)."""
        with self._lock:
            failures = self._failures.get(key)
            if failures:
                failures.pop()

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class LoginGuard:
    """Failed-login throttling that an attacker cannot turn against a user.

    Counting failures per user name alone let anyone lock any account (``admin`` too) for
    everyone, forever, five wrong passwords at a time.  Instead, a failure counts against:

    - the name *from that address* (``attempts``): guessing one user's password from one
      place stops there, and the user signing in from anywhere else is not affected;
    - the address (``4 × attempts``): one place trying many names (a shared office NAT may
      try a few);
    - the name from anywhere (``20 × attempts``): a looser ceiling on guessing one password
      from many addresses at once.
    """

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.by_pair = LoginThrottle(attempts, window)
        self.by_address = LoginThrottle(4 * attempts, window)
        self.by_name = LoginThrottle(20 * attempts, window)

    @staticmethod
    def _pair(name: str, address: str) -> str:
        return repr((name, address))       # unambiguous whatever the name holds (it is what was typed)

    def wait_time(self, name: str, address: str) -> float:
        """Seconds before ``name`` may try again from ``address`` (0 when allowed)."""
        return max(self.by_pair.wait_time(self._pair(name, address)), self.by_address.wait_time(address),
                   self.by_name.wait_time(name))

    def failed(self, name: str, address: str) -> None:
        """Count a wrong password for ``name`` from ``address`` against all three limits."""
        self.by_pair.failed(self._pair(name, address))
        self.by_address.failed(address)
        self.by_name.failed(name)

    def succeeded(self, name: str, address: str) -> None:
        """A success takes back the failure counted in advance for it, and clears the pair."""
        self.by_pair.succeeded(self._pair(name, address))
        self.by_address.forgive_one(address)
        self.by_name.forgive_one(name)
