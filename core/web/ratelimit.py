"""Per-key request rate limit for the local Web API: API Gateway's usage-plan throttle.

A token bucket per API key: ``burst`` requests at once, refilled at ``rate`` per second
(the course's usage plan: rate 50, burst 200). Over the limit the local API answers what
API Gateway answers, 429 ``{"message": "Too Many Requests"}``. In the aws world the usage
plan in the deployed template does this, so nothing here runs there.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

MAX_KEYS = 10_000  # buckets kept; the least recently used go first (only active keys get one)


class RateLimiter:
    """Thread-safe token buckets keyed by API key id."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``. Returns False (take nothing) when its bucket is empty."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
            return allowed

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
