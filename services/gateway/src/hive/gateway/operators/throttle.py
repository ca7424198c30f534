"""Login throttling: too many failures for one username, or from one client, wait.

In-process sliding windows: each gateway worker counts on its own, so with N
workers an attacker gets at most N times the budget. The per-username limit is
what stops guessing one operator's password; the per-client limit (four times
as high) slows spraying many names from one address.
"""

from __future__ import annotations

import time
from collections import deque


class LoginThrottle:
    """Sliding-window failure counts per username and per client address."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, username: str, client: str) -> float | None:
        """Seconds to wait before another attempt is allowed, or None."""
        now = time.monotonic()
        waits = []
        for key, limit in (
            (f"u:{username.lower()}", self.max_failures),
            (f"c:{client}", self.max_failures * 4),
        ):
            q = self._recent(key, now)
            if len(q) >= limit:
                waits.append(q[0] + self.window_s - now)
        return max(waits) if waits else None

    def failed(self, username: str, client: str) -> None:
        """Count a failed attempt."""
        now = time.monotonic()
        for key in (f"u:{username.lower()}", f"c:{client}"):
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            self._prune(now)

    def succeeded(self, username: str) -> None:
        """A correct password clears that username's failures."""
        self._failures.pop(f"u:{username.lower()}", None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
