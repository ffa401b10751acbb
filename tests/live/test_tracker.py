"""The live face tracker on synthetic detections (no model, no frames)."""

from __future__ import annotations

import pytest

from core.live.tracker import Box, FaceTracker


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 10, 10)
    assert a.area == 100
    assert a.center == (5, 5)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 5, 5)) == 0.0
    assert Box(-5, -5, 10, 10).clipped(100, 100) == Box(0, 0, 5, 5)
    assert Box(64, 48, 64, 96).ratios(640, 480) == {"Left": 0.1, "Top": 0.1, "Width": 0.1, "Height": 0.2}


def test_a_face_moving_across_the_frame_keeps_one_track():
    tracker = FaceTracker()
    first = tracker.update([Box(100, 100, 80, 80)], now=0.0)
    assert [t.id for t in first.new] == [1] and not first.updated
    for step in range(1, 20):  # 15 px per 0.1 s detection: IoU stays high
        update = tracker.update([Box(100 + 15 * step, 100, 80, 80)], now=0.1 * step)
        assert not update.new and [t.id for t in update.updated] == [1]
    (track,) = tracker.tracks
    assert track.hits == 20
    assert track.velocity[0] == pytest.approx(150, rel=0.05)  # px/s
    # Between detections the box is predicted along the motion, for a bounded horizon.
    assert track.predicted(1.9 + 0.1).x == pytest.approx(track.box.x + 15, rel=0.05)
    assert track.predicted(10.0).x == pytest.approx(track.box.x + 150 * 0.5, rel=0.05)


def test_a_fast_move_is_followed_by_centre_and_size():
    tracker = FaceTracker()
    tracker.update([Box(100, 100, 100, 100)], now=0.0)
    # A diagonal jump of 58 px before any velocity is known: IoU 0.21 (below min_iou), but the
    # centre is within 0.6 face widths and the size is the same.
    jump = Box(141, 141, 100, 100)
    assert jump.iou(Box(100, 100, 100, 100)) < tracker.min_iou
    update = tracker.update([jump], now=0.1)
    assert not update.new and [t.id for t in update.updated] == [1]
    # A face of a very different size at the same place is someone else.
    update = tracker.update([Box(141, 141, 300, 300)], now=0.2)
    assert [t.id for t in update.new] == [2]


def test_two_faces_keep_their_own_tracks():
    tracker = FaceTracker()
    tracker.update([Box(50, 100, 80, 80), Box(400, 100, 80, 80)], now=0.0)
    for step in range(1, 10):  # they walk towards each other, never overlapping
        update = tracker.update([Box(400 - 20 * step, 100, 80, 80), Box(50 + 20 * step, 100, 80, 80)], now=0.1 * step)
        assert not update.new
    left, right = sorted(tracker.tracks, key=lambda t: t.id)
    assert left.box.x == 50 + 20 * 9 and right.box.x == 400 - 20 * 9


def test_a_face_that_leaves_ends_its_track_and_a_return_is_a_new_track():
    tracker = FaceTracker(max_missing_seconds=1.0)
    tracker.update([Box(100, 100, 80, 80)], now=0.0)
    for i in range(1, 10):  # missed detections (one per 0.1 s) are tolerated for a while
        assert not tracker.update([], now=0.1 * i).ended
    update = tracker.update([], now=1.1)
    assert [t.id for t in update.ended] == [1] and tracker.tracks == []
    assert [t.id for t in tracker.update([Box(100, 100, 80, 80)], now=3.0).new] == [2]


def test_the_number_of_tracks_is_bounded():
    tracker = FaceTracker(max_tracks=4)
    update = tracker.update([Box(i * 50, 0, 40, 40) for i in range(10)], now=0.0)
    assert len(update.new) == 4 and len(tracker.tracks) == 4
    assert len(tracker.end_all()) == 4 and tracker.tracks == []


def test_a_face_found_again_after_a_moment_is_flagged_for_a_new_look():
    tracker = FaceTracker(reacquire_misses=2, max_missing_seconds=1.0)
    tracker.update([Box(100, 100, 80, 80)], now=0.0)
    tracker.update([], now=0.1)  # one pass without it (a blink, a blurred frame)
    assert not tracker.update([Box(102, 100, 80, 80)], now=0.2).reacquired
    tracker.update([], now=0.3)
    tracker.update([], now=0.4)
    update = tracker.update([Box(104, 100, 80, 80)], now=0.6)  # two passes without it: maybe someone else
    assert [t.id for t in update.reacquired] == [1] and not update.new
    # A slow detector (one pass per 0.5 s) finding it every time is not losing it.
    slow = FaceTracker(reacquire_misses=2)
    slow.update([Box(100, 100, 80, 80)], now=0.0)
    assert not any(slow.update([Box(100, 100, 80, 80)], now=0.5 * i).reacquired for i in range(1, 5))


def test_after_a_stall_a_face_in_the_same_place_is_a_new_track():
    """No frame for 3 s (the stream stalled), then a face where the old one was: it may be
    someone else, so the old track ends instead of being continued."""
    tracker = FaceTracker(max_missing_seconds=1.0)
    for i in range(5):
        tracker.update([Box(100, 100, 120, 120)], now=0.1 * i)
    update = tracker.update([Box(100, 100, 120, 120)], now=3.5)
    assert [t.id for t in update.ended] == [1] and [t.id for t in update.new] == [2]


def test_a_slow_detector_does_not_end_tracks_that_it_keeps_finding():
    tracker = FaceTracker(max_missing_seconds=1.0)
    for i in range(10):  # one pass every 1.5 s, the face always there
        update = tracker.update([Box(100, 100, 120, 120)], now=1.5 * i)
        assert not update.ended and (i == 0 or not update.new)


def test_same_face_compares_unit_vectors():
    import numpy as np

    from core.live.tracker import same_face

    a = np.array([1.0, 0.0, 0.0])
    assert same_face(a, np.array([0.95, 0.31, 0.0]))
    assert not same_face(a, np.array([0.7, 0.71, 0.0]))
    assert same_face(None, a) and same_face(a, None)
