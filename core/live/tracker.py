"""Face tracks across video frames, without a model: associate each detection with the track
whose predicted box overlaps it most (IoU), or whose centre is close for a face of the same
size (a fast move between two detections), and predict boxes between detections with the
track's velocity.

We track by hand rather than with OpenCV's trackers: the headless 4.x wheel has only MIL (and
model-based ones whose weights no registry package ships), which costs 10-20 ms per face per
frame, while detections every ~100 ms plus this prediction cost microseconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in frame pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def iou(self, other: Box) -> float:
        """Intersection over union, 0..1."""
        iw = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        ih = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)

    def shifted(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def clipped(self, width: int, height: int) -> Box:
        x0, y0 = max(0.0, self.x), max(0.0, self.y)
        x1, y1 = min(float(width), self.x + self.w), min(float(height), self.y + self.h)
        return Box(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))

    def ratios(self, width: int, height: int) -> dict:
        """Rekognition's ``BoundingBox`` (ratios of the frame) for this box."""
        b = self.clipped(width, height)
        return {"Left": b.x / width, "Top": b.y / height, "Width": b.w / width, "Height": b.h / height}


@dataclass(eq=False)  # compared by identity: two tracks are never equal
class Track:
    """One face followed over time. ``box`` is where it was last detected, at ``seen``."""

    id: int
    box: Box
    born: float
    seen: float
    hits: int = 1
    misses: int = 0  # detection passes in a row that did not find it
    velocity: tuple[float, float] = (0.0, 0.0)  # centre, pixels per second
    # What the session attaches (identity, stills); the tracker never reads it.
    data: dict = field(default_factory=dict)

    def predicted(self, now: float, horizon: float = 0.5) -> Box:
        """Where the face should be at ``now``: the last box moved by the velocity, for at most
        ``horizon`` seconds (beyond that a guess is worse than standing still)."""
        dt = min(max(0.0, now - self.seen), horizon)
        return self.box.shifted(self.velocity[0] * dt, self.velocity[1] * dt)


@dataclass
class TrackUpdate:
    new: list[Track]
    updated: list[Track]
    ended: list[Track]
    # Updated tracks that had gone unseen for a while: the face found again may be someone else
    # who stepped into the same place, so its identity needs checking again.
    reacquired: list[Track] = field(default_factory=list)


class FaceTracker:
    """Keeps the tracks; ``update`` with each detection pass. Not thread-safe: one caller
    (the session's detection worker) updates it and hands out copies."""

    def __init__(
        self,
        min_iou: float = 0.25,
        max_missing_seconds: float = 1.0,
        reacquire_misses: int = 2,
        max_tracks: int = 32,
        velocity_smoothing: float = 0.5,
    ):
        self.min_iou = min_iou
        self.max_missing_seconds = max_missing_seconds
        self.reacquire_misses = reacquire_misses
        self.max_tracks = max_tracks
        self.velocity_smoothing = velocity_smoothing
        self._tracks: dict[int, Track] = {}
        self._last_pass: float | None = None
        self._pass_interval: float | None = None  # smoothed time between updates
        self._ids = itertools.count(1)

    @property
    def pass_interval(self) -> float | None:
        """The smoothed time between detection passes (None before the second pass)."""
        return self._pass_interval

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks.values())

    def get(self, track_id: int) -> Track | None:
        return self._tracks.get(track_id)

    def _affinity(self, track: Track, det: Box, now: float) -> float:
        """How well ``det`` continues ``track``: the IoU with its predicted box, or, when the
        boxes do not overlap enough, a smaller score for a nearby centre and a similar size."""
        guess = track.predicted(now)
        iou = guess.iou(det)
        if iou >= self.min_iou:
            return 1.0 + iou
        size = math.sqrt(max(guess.area, 1.0))
        ratio = math.sqrt(max(det.area, 1.0)) / size
        (gx, gy), (dx, dy) = guess.center, det.center
        if 1 / 1.6 <= ratio <= 1.6 and math.hypot(gx - dx, gy - dy) <= 0.6 * size:
            return 1.0 - math.hypot(gx - dx, gy - dy) / (0.6 * size) * 0.5  # 0.5..1.0
        return 0.0

    def update(self, detections: list[Box], now: float) -> TrackUpdate:
        """Match ``detections`` (made from the frame taken at ``now``) to tracks, greedily by
        affinity; unmatched detections start tracks; tracks unseen for too long end *before*
        matching (after a stall — no frames for a while — a face in the same place may be
        someone else); tracks found again after ``reacquire_misses`` passes in a row without
        them are ``reacquired``. Returns what changed.

        "Too long" is ``max_missing_seconds``, or 2.5 passes where passes come slower than that
        (a loaded machine detects less often, and must not end every track at every pass)."""
        if self._last_pass is not None and now > self._last_pass:
            dt = now - self._last_pass
            self._pass_interval = dt if self._pass_interval is None else 0.8 * self._pass_interval + 0.2 * dt
        self._last_pass = now
        # A single long gap moves the smoothed interval only a fifth of the way: it still expires.
        expire_after = max(self.max_missing_seconds, 2.5 * (self._pass_interval or 0.0))
        ended = [t for t in self._tracks.values() if now - t.seen > expire_after]
        for t in ended:
            del self._tracks[t.id]
        pairs = sorted(
            ((self._affinity(t, d, now), tid, i) for tid, t in self._tracks.items() for i, d in enumerate(detections)),
            reverse=True,
        )
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        updated, reacquired = [], []
        for score, tid, i in pairs:
            if score <= 0.0:
                break
            if tid in used_tracks or i in used_dets:
                continue
            used_tracks.add(tid)
            used_dets.add(i)
            track = self._tracks[tid]
            det = detections[i]
            dt = now - track.seen
            if dt > 0:
                (ox, oy), (nx, ny) = track.box.center, det.center
                a = self.velocity_smoothing
                vx, vy = (nx - ox) / dt, (ny - oy) / dt
                track.velocity = (a * vx + (1 - a) * track.velocity[0], a * vy + (1 - a) * track.velocity[1])
            if track.misses >= self.reacquire_misses:
                reacquired.append(track)
            track.box, track.seen, track.misses = det, now, 0
            track.hits += 1
            updated.append(track)
        for tid, track in self._tracks.items():
            if tid not in used_tracks:
                track.misses += 1
        new = []
        for i, det in enumerate(detections):
            if i in used_dets:
                continue
            if len(self._tracks) >= self.max_tracks:
                break  # a frame full of "faces" must not grow memory; the rest wait for a slot
            track = Track(id=next(self._ids), box=det, born=now, seen=now)
            self._tracks[track.id] = track
            new.append(track)
        return TrackUpdate(new=new, updated=updated, ended=ended, reacquired=reacquired)

    def end_all(self) -> list[Track]:
        """Forget every track (the stream stopped); returns them."""
        ended = list(self._tracks.values())
        self._tracks.clear()
        return ended


# --- "is it still the same face?" -------------------------------------------------------------
# A track follows a box, not a person: if one person leaves and another steps into the same place
# between two detections (or while the stream stalled), geometry alone would hand the second
# person the first one's name. ``core.live.detector.HogFaceDetector.signature`` gives a small
# aligned greyscale chip of the face (unit vector); measured on the 25 test portraits: the same
# face at the next detection (grown or shrunk by a pyramid step) correlates at >= 0.95, different
# people's faces at most 0.70 (bench/live.py prints the figures).
SAME_FACE_MIN = 0.85


def same_face(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two face signatures look like the same face (unknown counts as the same)."""
    if a is None or b is None:
        return True
    return float(a @ b) >= SAME_FACE_MIN
