"""What the live page shows about the stream itself: frames shown per second, frames dropped
(the server fell behind and skipped them rather than queue them), stalls (no frame arrived
for a while), identification calls per minute and name latencies. Bounded memory: only the
last minute of events is kept."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

STALL_SECONDS = 2.0  # no frame for this long = the stream stalled
BEHIND_WINDOW = 5.0
# Behind = more than this share of the frames that arrived in the window were dropped. A frame
# or two dropped now and then is jitter (two frames arriving together), not a server behind.
BEHIND_SHARE = 0.2
BEHIND_DELAY = 1.0  # seconds the processed video may lag the camera before it counts as behind
FPS_WINDOW = 3.0
CALLS_WINDOW = 60.0


@dataclass(frozen=True)
class StatsSnapshot:
    frames_shown: int
    frames_dropped: int
    fps: float  # frames shown per second over the last few seconds
    stalled: bool
    behind: bool  # a good share of the last few seconds' frames were dropped, or the video lags
    delay_seconds: float  # how far the frames being processed are behind the camera
    dropped_recently: int
    calls_per_minute: int  # identification-path calls (Rekognition calls in the aws world)
    calls_total: int
    budget_waits: int  # identifications postponed by the calls-per-minute limit
    latency_p50: float | None  # seconds from a track's first detection to its name
    last_error: Exception | None  # the newest failure (a domain error for the UI to word), None once it recovers


class LiveStats:
    def __init__(self, max_samples: int = 256):
        self._lock = threading.Lock()
        self._shown: deque[float] = deque(maxlen=4 * max_samples)  # > BEHIND_WINDOW at 60 fps
        self._drops: deque[tuple[float, int]] = deque(maxlen=max_samples)
        self._calls: deque[float] = deque(maxlen=max_samples)
        self._latencies: deque[float] = deque(maxlen=max_samples)
        self.frames_shown = 0
        self.frames_dropped = 0
        self.calls_total = 0
        self.budget_waits = 0
        self.last_frame_at: float | None = None
        self.last_error: Exception | None = None
        self.delay_seconds = 0.0

    def frame(self, now: float, dropped: int = 0) -> None:
        with self._lock:
            self.frames_shown += 1
            self.last_frame_at = now
            self._shown.append(now)
            if dropped:
                self.frames_dropped += dropped
                self._drops.append((now, dropped))

    def delay(self, seconds: float) -> None:
        self.delay_seconds = seconds

    def call(self, now: float) -> None:
        with self._lock:
            self.calls_total += 1
            self._calls.append(now)

    def budget_wait(self) -> None:
        with self._lock:
            self.budget_waits += 1

    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latencies.append(seconds)

    def error(self, exc: Exception | None) -> None:
        with self._lock:
            self.last_error = exc

    def snapshot(self, now: float, playing: bool = True) -> StatsSnapshot:
        with self._lock:
            shown = [t for t in self._shown if now - t <= FPS_WINDOW]
            # Frames shown per second: the span between the first and last frame in the window.
            fps = (len(shown) - 1) / (shown[-1] - shown[0]) if len(shown) > 1 and shown[-1] > shown[0] else 0.0
            recent = sum(n for t, n in self._drops if now - t <= BEHIND_WINDOW)
            shown_recently = sum(1 for t in self._shown if now - t <= BEHIND_WINDOW)
            calls = sum(1 for t in self._calls if now - t <= CALLS_WINDOW)
            lat = sorted(self._latencies)
            stalled = playing and self.last_frame_at is not None and now - self.last_frame_at > STALL_SECONDS
            return StatsSnapshot(
                frames_shown=self.frames_shown,
                frames_dropped=self.frames_dropped,
                fps=round(fps, 1),
                stalled=stalled,
                behind=(recent > 2 and recent > BEHIND_SHARE * (recent + shown_recently))
                or self.delay_seconds > BEHIND_DELAY,
                delay_seconds=round(self.delay_seconds, 1),
                dropped_recently=recent,
                calls_per_minute=calls,
                calls_total=self.calls_total,
                budget_waits=self.budget_waits,
                latency_p50=lat[len(lat) // 2] if lat else None,
                last_error=self.last_error,
            )
