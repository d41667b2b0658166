"""Failed-login throttling: one instance per kind of key (user names, client addresses)."""
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
