"""Per-task-token rate limit of the relay: a token bucket per `jti`.

In-process, like login throttling: each worker keeps its own buckets.
"""

from __future__ import annotations

import time


class TokenBuckets:
    """`capacity` calls per minute per key, refilled continuously."""

    def __init__(self, per_minute: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float | None:
        """Spend one call; None when allowed, else seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 50_000:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely carries no information.
        full_after = self.capacity / self.rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last >= full_after:
                del self._buckets[key]
