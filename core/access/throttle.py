"""Throttling, in one place: per-key state with bounded memory, and the two policies FaceGate
applies with it.

* ``RateLimiter``: the local Web API's per-key request rate (API Gateway's usage plan, a token
  bucket: ``burst`` at once, refilled at ``rate`` per second; the course's plan is 50/s, burst
  200). Over it the API answers 429 ``{"message": "Too Many Requests"}``; in aws the deployed
  usage plan does this.
* ``SignInThrottle``: failed admin sign-ins and setup codes, per client exponential back-off
  after ``FREE_FAILURES`` and an overall slow-down (never a lockout) for clients the app does
  not know once everyone together failed ``GLOBAL_FAILURES`` times.

Why two policies and not one bucket for both: a request rate should recover steadily, but a
password guesser should not. With a token bucket per client, one client could spend the whole
shared ceiling and lock the real admin out; with exponential back-off one client gets a few
guesses an hour, far under the ceiling, so only many clients together reach it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from core.errors import Throttled

MAX_KEYS = 10_000  # per-key states kept; the least recently used go first
FREE_FAILURES = 5  # per client before the back-off starts
MAX_BACKOFF_S = 900
GLOBAL_FAILURES = 30  # failures from all clients within GLOBAL_WINDOW_S before the slow-down
GLOBAL_WINDOW_S = 600
GLOBAL_SPACING_S = 2.0  # during the slow-down: one attempt per this many seconds from unknown clients

S = TypeVar("S")


class KeyedState(Generic[S]):
    """A state per key (an API key, a client address), at most ``MAX_KEYS`` of them: a spray
    of made-up keys must not grow memory without bound."""

    def __init__(self, max_keys: int = MAX_KEYS):
        self.max_keys = max_keys
        self._states: OrderedDict[str, S] = OrderedDict()

    def get(self, key: str, default: S) -> S:
        return self._states.get(key, default)

    def put(self, key: str, state: S) -> None:
        self._states.pop(key, None)
        self._states[key] = state
        if len(self._states) > self.max_keys:
            self._states.popitem(last=False)

    def pop(self, key: str) -> None:
        self._states.pop(key, None)

    def __len__(self) -> int:
        return len(self._states)


class RateLimiter:
    """Thread-safe token buckets keyed by API key id."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock = float(rate), float(burst), clock
        self._buckets: KeyedState[tuple[float, float]] = KeyedState()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``. Returns False (take nothing) when its bucket is empty."""
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
            allowed = tokens >= 1.0
            self._buckets.put(key, (tokens - 1.0 if allowed else tokens, now))
            return allowed

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (0 when it has one now)."""
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class SignInThrottle:
    """Failed sign-ins: per client exponential back-off after FREE_FAILURES, and an overall
    slow-down so that many clients cannot share the guessing. The slow-down spaces the attempts
    of unknown clients GLOBAL_SPACING_S apart instead of refusing everyone for the window: 30
    failures from an attacker used to lock the real admin out everywhere for 10 minutes. Not
    thread-safe on its own: its owner (``AccessControl``) calls it under its lock."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.per_client: KeyedState[tuple[int, float]] = KeyedState()  # client -> (failures, next allowed)
        self.recent: list[float] = []  # the last GLOBAL_FAILURES failures' times
        self.next_unknown = 0.0  # during the slow-down: when an unknown client may try next

    def check(self, client: str, *, known: bool = False) -> None:
        """Raise Throttled when ``client`` must wait; ``known``: a known device (never slowed
        by the others' failures)."""
        now = self.clock()
        _n, allowed = self.per_client.get(client, (0, 0.0))
        if now < allowed:
            raise Throttled(f"too many wrong passwords: wait {int(allowed - now) + 1} s")
        if known:
            return
        self.recent = [t for t in self.recent if now - t < GLOBAL_WINDOW_S]
        if len(self.recent) >= GLOBAL_FAILURES:
            if now < self.next_unknown:
                raise Throttled(f"many wrong passwords from everyone: wait {int(self.next_unknown - now) + 1} s")
            self.next_unknown = now + GLOBAL_SPACING_S

    def failed(self, client: str) -> None:
        now = self.clock()
        n, _ = self.per_client.get(client, (0, 0.0))
        n += 1
        delay = 0.0 if n < FREE_FAILURES else min(2.0 ** (n - FREE_FAILURES), MAX_BACKOFF_S)
        self.per_client.put(client, (n, now + delay))
        self.recent = [*self.recent[-(GLOBAL_FAILURES - 1) :], now]

    def succeeded(self, client: str) -> None:
        self.per_client.pop(client)
