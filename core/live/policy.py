"""When a live track is identified, and when an appearance leaves records.

A track is identified once when it appears, and again only when its face changed (its size
moved by ``size_change``: someone walking up to the door is often unknown at a distance and
known up close) or after a while. Records (``core.usecases.capture.record_face``: the still, the auth,
analysis and door logs, the history) are written once per appearance:

- a known person: when the track is first identified as them, and at most once per person per
  cooldown (``FACEGATE_LIVE_COOLDOWN_SECONDS``) across tracks and sessions — someone who steps
  out of the frame and back in does not open the door twice;
- a stranger: once the track has been searched ``unknown_attempts`` times without a match, or
  when it ends unknown — so a face that is unknown from far away and known close up leaves
  only the known person's records.

A face that the identification path cannot find (``NoFaceInImage``: the cheap detector saw a
face-like patch) is retried a few times, then left alone until it changes; it is never named
and never logged.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from core.access.throttle import RateLimiter
from core.live.tracker import same_face

PENDING, KNOWN, UNKNOWN, NO_FACE = "pending", "known", "unknown", "no_face"


@dataclass(frozen=True)
class PolicyConfig:
    min_hits: int = 1  # detections before a track is worth a call (1 = at first sight)
    size_change: float = 1.5  # area ratio since the last attempt that counts as a new face
    reidentify_seconds: float = 30.0  # a known (or settled unknown) track is checked again after this
    unknown_retry_seconds: float = 1.5  # an unknown result is retried after this...
    unknown_attempts: int = 2  # ...until this many unknown results make it a stranger
    no_face_retry_seconds: float = 1.0
    no_face_attempts: int = 3  # then wait for the face to change


@dataclass
class Identity:
    """What is known about one track's face (kept in ``Track.data['identity']``)."""

    state: str = PENDING
    person: str | None = None
    similarity: float | None = None
    attempts: int = 0
    unknown_results: int = 0
    no_face_results: int = 0
    in_flight: bool = False
    last_attempt_at: float | None = None
    last_attempt_area: float = 0.0
    recorded: set[str] = field(default_factory=set)  # people whose records this track wrote
    stranger_recorded: bool = False
    door: str | None = None  # "opened", "cooldown", "closed" once decided
    # The face was lost for a moment and found again: until checked it may be someone else,
    # so it is shown as being identified, not under the old name.
    stale: bool = False
    stale_since: float | None = None  # when the change was seen (an older attempt's answer is void)
    evidence: tuple | None = None  # the session's last unknown attempt (still + face), for a stranger's records


@dataclass(frozen=True)
class RecordDue:
    """Write this appearance's records: for ``person`` (None = a stranger)."""

    person: str | None


class Cooldown:
    """At most one start per key per ``seconds``; thread-safe, shared by sessions. Strangers
    have no name to key on: their face signatures are kept for the same time instead."""

    def __init__(self, seconds: float, max_keys: int = 10_000, max_faces: int = 64):
        self.seconds = float(seconds)
        self.max_keys = max_keys
        self._last: dict[str, float] = {}
        self._faces: deque[tuple[float, np.ndarray]] = deque(maxlen=max_faces)
        self._lock = threading.Lock()

    def try_start_stranger(self, signature: np.ndarray | None, now: float) -> bool:
        """True (and the face is remembered) unless the same face (``same_face``) started within
        ``seconds``: a stranger whose appearance was split in two (the stream stalled, the face
        was lost for a while) is logged once. Without a signature, always True."""
        if signature is None:
            return True
        with self._lock:
            for at, seen in self._faces:
                if now - at < self.seconds and same_face(seen, signature):
                    return False
            self._faces.append((now, signature))
            return True

    def try_start(self, key: str, now: float) -> bool:
        """True (and the cooldown starts) when ``key`` has not started within ``seconds``."""
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.seconds:
                return False
            self._last[key] = now
            if len(self._last) > self.max_keys:  # drop what has cooled down; keeps memory flat
                self._last = {k: t for k, t in self._last.items() if now - t < self.seconds}
            return True

    def remaining(self, key: str, now: float) -> float:
        """Seconds until ``key`` may start again (0 when it may now)."""
        with self._lock:
            last = self._last.get(key)
        return 0.0 if last is None else max(0.0, self.seconds - (now - last))


class CallBudget:
    """Identifications per minute (each one a Rekognition call in the aws world), as a token
    bucket: a short burst when several people arrive, then ``per_minute``."""

    KEY = "live"

    def __init__(self, per_minute: float, burst: int = 5, clock=None):
        kwargs = {} if clock is None else {"clock": clock}
        self.per_minute = float(per_minute)
        self._limiter = RateLimiter(self.per_minute / 60.0, max(1, min(burst, int(per_minute) or 1)), **kwargs)

    def take(self) -> bool:
        return self._limiter.allow(self.KEY)

    def wait_seconds(self) -> float:
        return self._limiter.retry_after(self.KEY)


class IdentityPolicy:
    def __init__(self, config: PolicyConfig, cooldown: Cooldown):
        self.config = config
        self.cooldown = cooldown

    def _changed(self, area: float, ident: Identity) -> bool:
        if ident.last_attempt_area <= 0 or area <= 0:
            return False
        ratio = area / ident.last_attempt_area
        return max(ratio, 1 / ratio) >= self.config.size_change

    def due(self, area: float, hits: int, ident: Identity, now: float) -> bool:
        """Should this track (its face ``area`` px², ``hits`` detections) be identified now?"""
        c = self.config
        if ident.in_flight or hits < c.min_hits:
            return False
        if ident.attempts == 0 or ident.stale:
            return True
        since = now - ident.last_attempt_at if ident.last_attempt_at is not None else 0.0
        changed = self._changed(area, ident)
        if ident.state == NO_FACE:
            if ident.no_face_results < c.no_face_attempts:
                return since >= c.no_face_retry_seconds
            return changed
        if ident.state == UNKNOWN and ident.unknown_results < c.unknown_attempts:
            return since >= c.unknown_retry_seconds or changed
        return changed or since >= c.reidentify_seconds

    @staticmethod
    def priority(area: float, ident: Identity) -> tuple:
        """Sort key, smallest first: never-identified tracks, then the largest faces."""
        return (ident.attempts > 0, -area)

    def started(self, area: float, ident: Identity, now: float) -> None:
        ident.in_flight = True
        ident.attempts += 1
        ident.last_attempt_at = now
        ident.last_attempt_area = area

    def failed(self, ident: Identity) -> None:
        """The call itself failed (service down, throttled): try again later as if not tried."""
        ident.in_flight = False
        ident.attempts -= 1

    def reacquired(self, ident: Identity, now: float) -> None:
        """The face may have changed (lost and found again, or looks different) at ``now``."""
        if ident.attempts:
            ident.stale = True
            ident.stale_since = now

    @staticmethod
    def outdated(ident: Identity, asked_at: float) -> bool:
        """Whether an answer about the frame taken at ``asked_at`` predates a change of face."""
        return ident.stale and ident.stale_since is not None and ident.stale_since > asked_at

    def no_face(self, ident: Identity) -> None:
        ident.in_flight = False
        ident.stale = False
        ident.no_face_results += 1
        if ident.state == PENDING:
            ident.state = NO_FACE

    def identified(self, ident: Identity, person: str | None, similarity: float | None, now: float) -> RecordDue | None:
        """Take a search result (``person`` None = nobody matched); returns the records due."""
        ident.in_flight = False
        stale, ident.stale = ident.stale, False
        if person is None:
            ident.unknown_results += 1
            if ident.state == KNOWN and not stale:
                # Keep the name: one poor frame of a known face is not a stranger (a real
                # change of face also changes its size, and a new track starts anyway).
                return None
            ident.state, ident.person, ident.similarity = UNKNOWN, None, None
            if ident.door is None:
                ident.door = "closed"
            if ident.unknown_results >= self.config.unknown_attempts:
                return self._stranger(ident)
            return None
        ident.state, ident.person, ident.similarity = KNOWN, person, similarity
        if person in ident.recorded:
            return None
        ident.recorded.add(person)
        if self.cooldown.try_start(person, now):
            ident.door = "opened"
            return RecordDue(person)
        ident.door = "cooldown"
        return None

    def _stranger(self, ident: Identity) -> RecordDue | None:
        if ident.stranger_recorded or ident.recorded:
            return None
        ident.stranger_recorded = True
        return RecordDue(None)

    def ended(self, ident: Identity) -> RecordDue | None:
        """The track left the frame: a face seen only as unknown gets its stranger records."""
        if ident.state == UNKNOWN and ident.unknown_results > 0:
            return self._stranger(ident)
        return None
