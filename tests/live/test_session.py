"""A live session on the real local world (dlib engine, object store, event store): frames of
two enrolled people and a stranger, one after another, go through ``LiveSession.process`` at
15 fps in real time; the names, the records and the cooldown are what a photo leaves."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.live.detector import warm_up
from core.live.frames import rgb_to_i420
from core.live.policy import KNOWN, CallBudget, Cooldown
from core.live.session import LiveSession, prepare
from core.usecases import history, people
from tests.browser.harness import face_frame

pytestmark = pytest.mark.slow
FPS = 15


@pytest.fixture
def enrolled(services, admin, labelled):
    for person in ("amy", "bernadette"):
        people.enrol_person(services, person, [("1.png", labelled[person][0].read_bytes())])
    warm_up()  # as the page does when Live opens: the first face must not wait for the model to load
    return services


def frames(image) -> np.ndarray:
    """The frame as the WebRTC decoder hands it over (I420)."""
    return rgb_to_i420(np.asarray(face_frame(image)))


def play(live: LiveSession, image, seconds: float, watch=None, until=None) -> None:
    """Feed one frame ``seconds`` long at FPS in real time (or, with ``until``, until it says
    so, then ``seconds`` more; at most 30 s); ``watch(snapshot)`` after each frame."""
    yuv = frames(image)
    limit = time.monotonic() + 30
    end = None if until else time.monotonic() + seconds
    while time.monotonic() < (end or limit):
        if end is None and until():
            end = time.monotonic() + seconds
        started = time.monotonic()
        out = live.process(yuv)
        assert out.shape == yuv.shape and out is not yuv
        if watch is not None:
            watch(live.snapshot())
        time.sleep(max(0.0, 1 / FPS - (time.monotonic() - started)))


def test_two_people_and_a_stranger_leave_one_appearance_each_and_the_cooldown_holds(enrolled, labelled):
    services = enrolled
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(60))
    named_during_stranger = []

    def seen(state, person=None, times=1):
        return lambda: sum(s.state == state and s.person == person for s in live.snapshot().sightings) >= times

    # Each face stays until it is named (at most 30 s: a loaded machine is slow), then a little
    # longer; the gaps are long enough for the face's track to end.
    play(live, None, 1.0)
    play(live, labelled["amy"][2], 0.5, until=seen(KNOWN, "amy"))
    play(live, None, 2.5)
    play(live, labelled["bernadette"][3], 0.5, until=seen(KNOWN, "bernadette"))
    play(live, None, 2.5)
    stranger = labelled["penny"][1]
    play(
        live,
        stranger,
        1.0,
        until=seen("unknown"),
        watch=lambda s: named_during_stranger.extend(t.person for t in s.tracks if t.person),
    )
    play(live, None, 2.5)
    play(live, labelled["amy"][4], 0.5, until=seen(KNOWN, "amy", times=2))  # back within the cooldown
    play(live, None, 2.5)
    live.stop()
    live.join()
    snap = live.snapshot()

    assert named_during_stranger == []  # the stranger is never named
    seen = [(s.state, s.person, s.door, s.records) for s in reversed(snap.sightings)]
    assert seen == [
        (KNOWN, "amy", "opened", "written"),
        (KNOWN, "bernadette", "opened", "written"),
        ("unknown", None, "closed", "written"),
        (KNOWN, "amy", "cooldown", "none"),
    ]
    assert snap.published == {"auth": 3, "analysis": 3, "door": 2}

    auth = services.events.query("auth").sort_values("Datetime")
    assert list(auth["AuthenticationResult"]) == [True, True, False]
    assert list(auth["Person"].fillna("")) == ["amy", "bernadette", ""]
    door = services.events.query("door").sort_values("Datetime")
    assert list(door["Person"]) == ["amy", "bernadette"]
    analysis = services.events.query("analysis")
    assert len(analysis) == 3 and analysis["Gender"].notna().all()
    # Each appearance's still is stored under the course's key, with its history record.
    bucket = services.settings.photos_bucket
    for sighting, picture in zip(reversed(snap.sightings[1:]), auth["PictureName"], strict=True):
        assert sighting.picture_name == picture and picture.startswith("live_")
        assert services.objects.get_object(bucket, picture)[:2] == b"\xff\xd8"
        capture = history.get_capture(services, picture[: -len(".jpg")])
        assert capture.person == sighting.person and capture.door_opened == (sighting.person is not None)
        assert len(capture.faces) == 1 and capture.faces[0].age_range is not None
    assert snap.stats.calls_total >= 3 + 3  # a search per appearance (and retries), an analysis per record
    assert snap.stats.frames_shown > 0 and snap.stats.last_error is None


class GatedApi:
    """The real in-process Web API, held at a gate: identification cannot finish until the
    test opens it (to show the video thread never waits for it)."""

    def __init__(self, api):
        self.api = api
        self.gate = threading.Event()
        self.calls = 0

    def search(self, *args, **kwargs):
        self.calls += 1
        self.gate.wait(30)
        return self.api.search(*args, **kwargs)

    def analyze(self, *args, **kwargs):
        return self.api.analyze(*args, **kwargs)


def test_the_video_never_waits_for_identification(enrolled, labelled):
    services = enrolled
    gated = services.api = GatedApi(services.api)
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(60))
    states, while_held = [], []

    def watch(snap):
        states.extend(t.state for t in snap.tracks)
        if gated.calls:  # the identification has started and is held at the gate
            while_held.append(snap.stats.frames_shown)

    try:
        # 1.5 s of frames while the one identification is held: every frame still comes
        # back (with the face boxed as pending), and only one call was made (nothing queued up).
        play(live, labelled["amy"][2], 1.5, watch=watch, until=lambda: gated.calls > 0)
        assert gated.calls == 1 and not gated.gate.is_set()
        assert len(while_held) >= 5 and while_held[-1] - while_held[0] == len(while_held) - 1
        assert states and set(states) == {"pending"}
        gated.gate.set()
        named = []
        play(
            live,
            labelled["amy"][2],
            0.0,
            watch=lambda s: named.extend(t.person for t in s.tracks if t.person),
            until=lambda: bool(named),
        )
        assert set(named) == {"amy"}
    finally:
        gated.gate.set()
        live.stop()
        live.join()


def test_a_stranger_still_on_screen_when_the_stream_stops_is_logged(enrolled, labelled):
    services = enrolled
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(60))
    play(live, labelled["penny"][1], 1.0)  # one unknown result: not yet a stranger
    live.stop()
    live.join()
    assert live.snapshot().published.get("auth") == 1
    (record,) = services.events.query("auth").to_dict("records")
    assert not record["AuthenticationResult"] and record["PictureName"].startswith("live_")


def test_the_budget_holds_identifications_back(enrolled, labelled):
    services = enrolled
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(per_minute=1, burst=1))
    play(live, labelled["amy"][2], 1.0)
    play(live, None, 1.5)
    play(live, labelled["bernadette"][3], 1.5)  # no budget left: stays pending, no call made
    snap = live.snapshot()
    live.stop()
    live.join()
    assert [t.state for t in snap.tracks] == ["pending"]
    assert snap.stats.budget_waits > 0
    assert [s.person for s in snap.sightings] == ["amy"]


def test_someone_else_stepping_into_the_same_place_is_not_given_the_name(enrolled, labelled):
    """No gap between two faces at the same spot: the track continues, but at the next detection
    the face has changed, so it is checked again and becomes a new appearance. Boxes lag the
    video by a detection pass (the tracker draws where the face was), so the first frames may
    still carry the first name; once the new face has been looked at, never again."""
    services = enrolled
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(60))
    frames_after = []  # per frame: (names drawn, whether the new face has been identified yet)

    def watch(snap):
        frames_after.append(({t.person for t in snap.tracks}, any(s.state == "unknown" for s in snap.sightings)))

    play(live, labelled["amy"][2], 0.5, until=lambda: any(s.person == "amy" for s in live.snapshot().sightings))
    play(live, labelled["penny"][1], 3.0, watch=watch)
    live.stop()
    live.join()
    snap = live.snapshot()
    looked = next(i for i, (_, identified) in enumerate(frames_after) if identified)
    assert all("amy" not in names for names, _ in frames_after[looked:]), frames_after
    assert [(s.state, s.person) for s in reversed(snap.sightings)] == [(KNOWN, "amy"), ("unknown", None)]
    assert snap.published.get("auth") == 2


def test_prepare_loads_every_model_a_stream_uses(services):
    """dlib holds the GIL while it loads a model (seconds on busy cores, when no thread of the
    server runs): a load during a stream froze it until the browser ended the stream. The page
    calls ``prepare`` before the Start button exists, so a stream has nothing left to load."""
    from core.live import detector

    prepare(services)
    assert detector._frontal_detector.cache_info().currsize == 1
    assert detector._five_points.cache_info().currsize == 1
    assert services.faces.engine._sp68_model is not None  # the analysis's 68 landmarks
    assert services.faces._estimator is not None  # the analysis's attribute nets
    prepare(services)  # again: nothing to do, nothing reloaded


def test_a_new_stream_never_waits_for_the_stopped_ones_workers(enrolled, labelled):
    """The video thread runs on aiortc's loop: Start again while the last stream's
    identification is still running, and frames come back at once (the workers restart on a
    helper thread when the old ones have finished)."""
    services = enrolled
    gated = services.api = GatedApi(services.api)
    live = LiveSession(services, cooldown=Cooldown(60), budget=CallBudget(60))
    try:
        play(live, labelled["amy"][2], 0.0, until=lambda: gated.calls > 0)
        live.stop()  # the identification stays held at the gate: a worker is still alive
        out = live.process(frames(labelled["amy"][2]))
        assert out is not None and not gated.gate.is_set()  # returned without waiting for it
        assert live._starter is not None and live._starter.is_alive()  # the helper waits instead
    finally:
        gated.gate.set()
    deadline = time.monotonic() + 60
    while not live.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.running  # restarted once the old workers were done
    live.stop()
    live.join()
