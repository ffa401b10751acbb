"""Live stream figures: fps, dropped frames, stalls, calls per minute, latency (synthetic clock)."""

from __future__ import annotations

import pytest

from core.live.stats import LiveStats


def test_fps_and_occasional_drops_are_not_falling_behind():
    stats = LiveStats()
    for i in range(45):  # 15 fps for 3 s, one frame dropped now and then
        stats.frame(i / 15, dropped=1 if i % 20 == 0 else 0)
    snap = stats.snapshot(44 / 15)
    assert snap.fps == pytest.approx(15.0, abs=0.2)
    assert snap.frames_shown == 45 and snap.frames_dropped == 3
    assert not snap.behind and not snap.stalled


def test_many_drops_mean_the_server_is_behind():
    stats = LiveStats()
    for i in range(20):  # 5 fps shown of 15 arriving
        stats.frame(i / 5, dropped=2)
    snap = stats.snapshot(19 / 5)
    assert snap.behind and snap.dropped_recently == 40 and snap.fps == pytest.approx(5.0)
    # Five seconds later without drops the warning clears.
    for i in range(20, 50):
        stats.frame(i / 5)
    assert not stats.snapshot(49 / 5).behind


def test_a_stream_without_frames_is_stalled_only_while_playing():
    stats = LiveStats()
    stats.frame(0.0)
    assert not stats.snapshot(1.0).stalled
    assert stats.snapshot(2.5).stalled
    assert not stats.snapshot(2.5, playing=False).stalled


def test_calls_per_minute_count_the_last_minute_and_latency_is_the_median():
    stats = LiveStats()
    for t in (0.0, 10.0, 50.0, 65.0):
        stats.call(t)
    snap = stats.snapshot(70.0)
    assert snap.calls_per_minute == 3 and snap.calls_total == 4
    for s in (0.3, 0.2, 0.9):
        stats.latency(s)
    assert stats.snapshot(70.0).latency_p50 == 0.3


def test_memory_is_bounded_over_a_long_stream():
    stats = LiveStats(max_samples=64)
    for i in range(100_000):
        stats.frame(i / 30, dropped=1)
        stats.call(i / 30)
    assert len(stats._shown) <= 256 and len(stats._drops) <= 64 and len(stats._calls) <= 64


def test_a_video_lagging_the_camera_is_behind_even_without_drops():
    stats = LiveStats()
    for i in range(30):
        stats.frame(i / 15)
    stats.delay(0.4)
    assert not stats.snapshot(2.0).behind
    stats.delay(2.5)
    snap = stats.snapshot(2.0)
    assert snap.behind and snap.delay_seconds == 2.5 and snap.dropped_recently == 0
