"""One live stream: the video thread's per-frame step and the three workers behind it.

    video thread ── process(frame) ── draws the tracks' predicted boxes, returns at once
         │ newest frame only (a mailbox: an older frame not yet taken is dropped, never queued)
    detection worker ── HOG detector + FaceTracker, at most every ``detect_interval``
         │ wakes
    identification worker ── picks the most urgent track the policy says is due and the
         │                    calls-per-minute budget allows; ``core.usecases.capture.identify_face``
         │ records due (bounded queue)
    recording worker ── ``core.usecases.capture.record_face``: the still, history, auth/analysis/door logs

Nothing here blocks the video thread on a model or a network call; the slow steps only ever
see the newest frame. Everything that grows is bounded (tracks, sightings, stats windows, the
records queue), and the workers stop by themselves when frames stop coming, so an abandoned
browser tab leaves no thread or memory behind.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from core.bootstrap.services import Services
from core.errors import CollectionNotFound, FaceGateError, NoFaceInImage
from core.events.records import utc_now
from core.live.detector import FaceDetector, HogFaceDetector
from core.live.frames import i420_to_rgb, planes, size
from core.live.overlay import TrackView, draw_tracks
from core.live.policy import (
    KNOWN,
    PENDING,
    UNKNOWN,
    CallBudget,
    Cooldown,
    Identity,
    IdentityPolicy,
    PolicyConfig,
    RecordDue,
)
from core.live.stats import LiveStats, StatsSnapshot
from core.live.tracker import Box, FaceTracker, Track, same_face
from core.usecases import capture
from core.usecases.people import ensure_collection

log = logging.getLogger(__name__)
_PREPARE_LOCK = threading.Lock()


def prepare(services: Services) -> None:
    """Load every model a stream will use, before the stream starts; returns when loaded (at
    once when already loaded). Concurrent callers wait for one load.

    Why: dlib holds the GIL while it loads a model (the HOG detector, the 5- and 68-point
    landmarks: 0.1-1.4 s each on a quiet machine, 11-18 s on 2 busy cores). While it does, no
    other thread of the server runs, aiortc's included: the browser receives nothing, Chrome
    declares the connection "disconnected" after ~7 s, and streamlit-webrtc then ends the
    stream (docs/live.md). Loaded lazily, these loads fell in the first seconds of a stream (the
    detector, loaded while Start was pressed) or at its first logged appearance (the landmarks
    the analysis needs). Imports the video path needs come here too, for the same reason."""
    from core.live.detector import warm_up  # noqa: PLC0415

    with _PREPARE_LOCK:
        import av  # noqa: F401, PLC0415 (the frames' type: imported on the video thread otherwise)
        import cv2  # noqa: F401, PLC0415 (the detector's resize)

        warm_up()
        services.faces.warm_up(analysis=True)


IDLE_STOP_SECONDS = 60.0  # workers stop after this long without a frame (a closed tab)
RECORD_QUEUE = 64
ERROR_BACKOFF_SECONDS = 1.0


@dataclass
class Sighting:
    """One appearance as the side list shows it."""

    appearance: int
    seen_at: datetime  # UTC, when the face was first detected
    state: str  # KNOWN or UNKNOWN
    person: str | None = None
    similarity: float | None = None
    door: str | None = None  # "opened", "cooldown" (opened shortly before), "closed"
    picture_name: str | None = None  # the stored still, once the records are written
    records: str = "pending"  # "pending", "written", "none" (cooldown / not due), "failed"
    error: str | None = None


@dataclass(frozen=True)
class LiveSnapshot:
    running: bool
    tracks: list[TrackView]
    sightings: list[Sighting]  # newest first
    stats: StatsSnapshot
    published: dict  # record kind -> records published by this session
    identifications_per_minute: float


@dataclass
class _Frame:
    yuv: np.ndarray  # I420 (core.live.frames)
    at: float  # clock()
    wall: datetime


class _Mailbox:
    """Holds the newest frame only; ``put`` replaces an untaken one (that frame is skipped)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item: _Frame | None = None

    def put(self, item: _Frame) -> None:
        with self._cond:
            self._item = item
            self._cond.notify()

    def take(self, timeout: float) -> _Frame | None:
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


@dataclass
class _Appearance:
    """One person's presence on a track: usually the whole track, but a track whose face was
    lost for a moment and found again as someone else starts a new appearance."""

    id: int
    ident: Identity
    born: float  # clock() of the frame it was first detected on
    wall: datetime
    signature: np.ndarray | None = None  # the face when it was last searched (core.live.detector)


@dataclass
class _RecordJob:
    appearance: int
    due: RecordDue
    still: capture.Still
    face: capture.FaceResult
    when: datetime


class LiveSession:
    """Live identification of one stream. ``process`` is called by the video thread with
    every frame; ``snapshot`` by the page. Thread-safe; restarts itself after ``stop``."""

    def __init__(
        self,
        services: Services,
        *,
        cooldown: Cooldown,
        budget: CallBudget,
        config: PolicyConfig | None = None,
        detector: FaceDetector | None = None,
        detect_interval: float = 0.1,
        max_sightings: int = 30,
        clock=time.monotonic,
        source_name: str = "live",
    ):
        self.services = services
        self.policy = IdentityPolicy(config or PolicyConfig(), cooldown)
        self.budget = budget
        self.detect_interval = detect_interval
        self.max_sightings = max_sightings
        self.clock = clock
        self.source_name = source_name
        self._detector = detector
        self.stats = LiveStats()
        self._lock = threading.Lock()  # tracker, identities, sightings, published
        self._wake = threading.Condition(self._lock)  # the identification worker waits here
        self._tracker = FaceTracker()
        self._latest: _Frame | None = None  # the frame the tracks' boxes were detected on
        self._sightings: OrderedDict[int, Sighting] = OrderedDict()  # by appearance id
        self._appearance_ids = itertools.count(1)
        self._published: dict[str, int] = {}
        self._mailbox = _Mailbox()
        self._records: queue.Queue = queue.Queue(RECORD_QUEUE)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._starter: threading.Thread | None = None
        self._shape: tuple | None = None

    # --- life cycle ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads) and not self._stop.is_set()

    def start(self) -> None:
        """Start the workers (idempotent)."""
        with self._start_lock:
            if self.running:
                return
            self.join()
            if self._detector is None:
                self._detector = HogFaceDetector()  # dlib loads on its first detection, in the worker
            self._stop = threading.Event()
            self._threads = [
                threading.Thread(target=self._detect_loop, name="live-detect", daemon=True),
                threading.Thread(target=self._identify_loop, name="live-identify", daemon=True),
                threading.Thread(target=self._record_loop, name="live-record", daemon=True),
            ]
            for t in self._threads:
                t.start()

    def _start_without_waiting(self) -> None:
        """``start`` from the video thread, which must never wait: it runs on aiortc's loop
        (core.live.webrtc.frame_callback), and a loop that stops for seconds loses the stream.
        Workers of a stopped stream still finishing (a record being written) are waited for on
        a helper thread; meanwhile frames are shown without boxes."""
        if not any(t.is_alive() for t in self._threads):
            self.start()
        elif self._starter is None or not self._starter.is_alive():
            self._starter = threading.Thread(target=self.start, name="live-restart", daemon=True)
            self._starter.start()

    def stop(self) -> None:
        """Stop the workers; tracks end (a stranger still on screen gets their records)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for stopped workers to finish (records being written are written)."""
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    # --- the video thread -----------------------------------------------------------------
    def process(self, yuv: np.ndarray, dropped: int = 0) -> np.ndarray:
        """Hand the newest frame (I420, ``core.live.frames``) to the detector and return a copy
        with the tracks' boxes and names drawn. ``dropped``: frames skipped before this one."""
        now = self.clock()
        if not self.running:
            self._start_without_waiting()
        if yuv.shape != self._shape:  # browsers scale the video down when their CPU is busy
            self._shape = yuv.shape
            log.info("live: frames are %dx%d", *size(yuv))
        # The detector skipping frames it has no time for is by design (the tracker predicts
        # between detections); only frames the video thread itself could not show count as dropped.
        self._mailbox.put(_Frame(yuv, now, utc_now()))
        self.stats.frame(now, dropped)
        with self._lock:
            views = self._views(now)
        return draw_tracks(yuv.copy(), views)

    def _views(self, now: float) -> list[TrackView]:
        """Tracks to draw: those the newest detection pass found. A track it missed is kept for a
        while (a face turning away for a moment keeps its identity) but not drawn: a box where
        the face has already left looks like a ghost. Counted in passes, not seconds, so boxes
        stay on a loaded machine where passes come seldom."""
        out = []
        # After a stall (no frame for a while) the first frames come before the detector has
        # looked at them: the old boxes would label whoever stands there now.
        fresh = max(0.8, 2.5 * (self._tracker.pass_interval or 0.0))
        for t in self._tracker.tracks:
            if t.misses or now - t.seen > fresh:
                continue
            ident = t.data["appearance"].ident
            if ident.stale:  # found again after a moment: may be someone else until checked
                out.append(TrackView(t.id, t.predicted(now), PENDING, None, None))
            else:
                out.append(TrackView(t.id, t.predicted(now), ident.state, ident.person, ident.similarity))
        return out

    # --- the page -------------------------------------------------------------------------
    def snapshot(self) -> LiveSnapshot:
        now = self.clock()
        running = self.running
        with self._lock:
            return LiveSnapshot(
                running=running,
                tracks=self._views(now),
                sightings=[replace(s) for s in reversed(self._sightings.values())],
                stats=self.stats.snapshot(now, playing=running),
                published=dict(self._published),
                identifications_per_minute=self.budget.per_minute,
            )

    # --- detection worker -----------------------------------------------------------------
    def _detect_loop(self) -> None:
        idle_since = self.clock()
        while not self._stop.is_set():
            frame = self._mailbox.take(timeout=0.25)
            now = self.clock()
            if frame is None:
                with self._lock:
                    ended = self._tracker.update([], now).ended  # faces gone when frames stop
                    self._end(ended)
                if now - idle_since > IDLE_STOP_SECONDS:
                    self.stop()
                continue
            idle_since = now
            try:
                luma = planes(frame.yuv)[0]  # the Y plane: greyscale
                assert self._detector is not None  # start() made it
                boxes = self._detector.detect(luma)
            except Exception as exc:  # noqa: BLE001 - a bad frame must not end the stream
                self.stats.error(FaceGateError(f"face detector: {type(exc).__name__}: {exc}"))
                continue
            with self._wake:
                update = self._tracker.update(boxes, frame.at)
                for t in update.new:
                    t.data["appearance"] = self._appearance(frame.at, frame.wall)
                    log.info("live: face %d appeared (%dx%d px)", t.data["appearance"].id, t.box.w, t.box.h)
                for t in update.new:
                    t.data["signature"] = self._signature(luma, t.box)
                changed = {id(t) for t in update.reacquired}
                for t in update.updated:
                    signature = self._signature(luma, t.box)
                    if not same_face(t.data.get("signature"), signature):
                        changed.add(id(t))  # someone else where the face was: check again
                    t.data["signature"] = signature
                    if id(t) in changed:
                        self.policy.reacquired(t.data["appearance"].ident, frame.at)
                self._end(update.ended)
                self._latest = frame
                self._wake.notify_all()
            # At most every detect_interval, and idle at least half the time: on a loaded machine
            # the detector gives way to the video (the tracker predicts between detections).
            took = self.clock() - now
            pause = max(self.detect_interval - took, took)
            self._stop.wait(pause)
        with self._lock:
            self._end(self._tracker.end_all())
            self._latest = None

    def _appearance(self, born: float, wall: datetime) -> _Appearance:
        return _Appearance(next(self._appearance_ids), Identity(), born, wall)

    def _signature(self, luma: np.ndarray, box: Box):
        assert self._detector is not None  # the detection worker made it before any box
        return self._detector.signature(luma, box)

    def _end(self, ended: list[Track]) -> None:
        """Tracks that left the frame (called holding the lock)."""
        for t in ended:
            self._close(t.data["appearance"])

    def _close(self, appearance: _Appearance) -> None:
        """An appearance is over: a stranger's records are written now if not yet."""
        ident = appearance.ident
        due = self.policy.ended(ident)
        if due is not None and ident.evidence is not None:
            still, face, when = ident.evidence
            self._record_due(appearance, due, still, face, when)
        ident.evidence = None

    def _record_due(self, appearance: _Appearance, due: RecordDue, still, face, when) -> None:
        """Queue the records due (holding the lock), unless it is a stranger logged moments ago."""
        if due.person is None and not self.policy.cooldown.try_start_stranger(appearance.signature, self.clock()):
            log.info("live: appearance %d: the same stranger was logged within the cooldown", appearance.id)
            if appearance.id in self._sightings:
                self._sightings[appearance.id].records = "none"
            return
        self._queue_record(_RecordJob(appearance.id, due, still, face, when))

    # --- identification worker ------------------------------------------------------------
    def _next_job(self, now: float):
        """The most urgent due track with the frame it was detected on (holding the lock)."""
        if self._latest is None:
            return None
        due = []
        for t in self._tracker.tracks:
            if t.seen != self._latest.at:
                continue  # not on the newest detected frame: its box would not match the pixels
            ident = t.data["appearance"].ident
            if self.policy.due(t.box.area, t.hits, ident, now):
                due.append((self.policy.priority(t.box.area, ident), t.id, t))
        if not due:
            return None
        due.sort(key=lambda d: d[:2])
        return due[0][2], self._latest

    def _identify_loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                now = self.clock()
                job = self._next_job(now)
                if job is None:
                    self._wake.wait(0.25)
                    continue
                if not self.budget.take():
                    self.stats.budget_wait()
                    self._wake.wait(min(1.0, max(0.05, self.budget.wait_seconds())))
                    continue
                track, frame = job
                appearance: _Appearance = track.data["appearance"]
                self.policy.started(track.box.area, appearance.ident, now)
                box = track.box.ratios(*size(frame.yuv))
                signature = track.data.get("signature")
            self._identify(track, appearance, frame, box, signature)

    def _identify(self, track: Track, appearance: _Appearance, frame: _Frame, box: dict, signature=None) -> None:
        ident = appearance.ident
        still = capture.Still(i420_to_rgb(frame.yuv))
        self.stats.call(self.clock())
        try:
            face = capture.identify_face(self.services, still, box)
        except NoFaceInImage:
            with self._lock:
                self.policy.no_face(ident)
            log.info(
                "live: appearance %d: no face found by the search (%d times)", appearance.id, ident.no_face_results
            )
            return
        except CollectionNotFound as exc:
            with self._lock:
                self.policy.failed(ident)
            try:
                ensure_collection(self.services)  # nobody enrolled yet: everyone will be unknown
            except FaceGateError:
                self.stats.error(exc)
                self._stop.wait(ERROR_BACKOFF_SECONDS)
            return
        except FaceGateError as exc:
            with self._lock:
                self.policy.failed(ident)
            self.stats.error(exc)
            self._stop.wait(ERROR_BACKOFF_SECONDS)
            return
        now = self.clock()
        with self._lock:
            if self.policy.outdated(ident, frame.at):
                self.policy.failed(ident)  # the answer is about the face before it changed: ask again
                return
            if ident.stale and ident.state in (KNOWN, UNKNOWN) and face.person != ident.person:
                # The face found again is someone else who stepped into the same place: the
                # previous appearance is over and this is a new one on the same track.
                ident.stale = False
                self._close(appearance)
                fresh = self._appearance(frame.at, frame.wall)
                self.policy.started(ident.last_attempt_area, fresh.ident, now)
                if track.data.get("appearance") is appearance:
                    track.data["appearance"] = fresh
                appearance, ident = fresh, fresh.ident
            first = ident.state not in (KNOWN, UNKNOWN)
            due = self.policy.identified(ident, face.person, face.similarity, now)
            log.info(
                "live: appearance %d: %s after %.2f s%s",
                appearance.id,
                "known" if face.person else "unknown",
                now - appearance.born,
                ", records due" if due else "",
            )
            if first:
                self.stats.latency(now - appearance.born)
            self.stats.error(None)
            if ident.state == UNKNOWN:
                ident.evidence = (still, face, frame.wall)
                appearance.signature = signature
            sighting = self._sight(appearance)
            if due is not None:
                self._record_due(appearance, due, still, face, frame.wall)
            elif ident.state == KNOWN and sighting.records == "pending":
                sighting.records = "none"  # cooldown: nothing to write

    def _sight(self, appearance: _Appearance) -> Sighting:
        ident = appearance.ident
        s = self._sightings.get(appearance.id)
        if s is None:
            s = self._sightings[appearance.id] = Sighting(appearance.id, appearance.wall, ident.state)
            while len(self._sightings) > self.max_sightings:
                self._sightings.popitem(last=False)
        s.state, s.person, s.similarity, s.door = ident.state, ident.person, ident.similarity, ident.door
        return s

    def _queue_record(self, job: _RecordJob) -> None:
        try:
            self._records.put_nowait(job)
        except queue.Full:
            self.stats.error(FaceGateError("the records queue is full: an appearance was not logged"))
            if job.appearance in self._sightings:
                self._sightings[job.appearance].records = "failed"

    # --- recording worker -----------------------------------------------------------------
    def _record_loop(self) -> None:
        while True:
            try:
                job = self._records.get(timeout=0.25)
            except queue.Empty:
                producers = [t for t in self._threads if t.name in ("live-detect", "live-identify")]
                if self._stop.is_set() and not any(t.is_alive() for t in producers):
                    return  # tracks are ended and identifications finished: nothing more can come
                continue
            self._record(job)

    def _record(self, job: _RecordJob) -> None:
        self.stats.call(self.clock())
        try:
            result = capture.record_face(self.services, job.still, job.face, self.source_name, job.when)
        except FaceGateError as exc:
            self.stats.error(exc)
            with self._lock:
                if job.appearance in self._sightings:
                    self._sightings[job.appearance].records = "failed"
                    self._sightings[job.appearance].error = exc.message
            return
        with self._lock:
            for kind, n in result.published.items():
                self._published[kind] = self._published.get(kind, 0) + n
            s = self._sightings.get(job.appearance)
            if s is not None:
                s.picture_name = result.picture_name
                s.records = "failed" if result.publish_error else "written"
                if result.publish_error is not None:
                    s.error = result.publish_error.message
        if result.publish_error is not None:
            self.stats.error(result.publish_error)
