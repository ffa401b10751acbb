"""Overlays drawn straight into I420 frames come out in the intended colours once the browser
turns them back into RGB."""

from __future__ import annotations

import numpy as np

from core.live.frames import i420_to_rgb, planes, rgb_to_i420, size
from core.live.overlay import KNOWN_COLOUR, PENDING_COLOUR, UNKNOWN_COLOUR, TrackView, draw_tracks
from core.live.policy import KNOWN, NO_FACE, PENDING, UNKNOWN
from core.live.tracker import Box


def grey_frame() -> np.ndarray:
    return rgb_to_i420(np.full((480, 640, 3), 128, np.uint8))


def close(pixel, colour, tolerance=40) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_i420_layout():
    yuv = grey_frame()
    assert yuv.shape == (720, 640) and size(yuv) == (640, 480)
    y, u, v = planes(yuv)
    assert y.shape == (480, 640) and u.shape == v.shape == (240, 320)
    assert np.shares_memory(u, yuv) and np.shares_memory(v, yuv)


def test_boxes_and_labels_in_their_colours():
    yuv = grey_frame()
    views = [
        TrackView(1, Box(40, 100, 120, 120), KNOWN, "amy", 98.2),
        TrackView(2, Box(260, 100, 120, 120), UNKNOWN, None, None),
        TrackView(3, Box(480, 100, 120, 120), PENDING, None, None),
        TrackView(4, Box(480, 300, 100, 100), NO_FACE, None, None),
    ]
    assert views[0].label == "amy 98%" and views[1].label == "?" and views[2].label == "..." and not views[3].label
    out = i420_to_rgb(draw_tracks(yuv, views))
    # The left edge of each box, half way down.
    assert close(out[160, 41], KNOWN_COLOUR)
    assert close(out[160, 261], UNKNOWN_COLOUR)
    assert close(out[160, 481], PENDING_COLOUR)
    # Labels sit above the boxes: a filled tag in the box's colour with white text.
    tag = out[75:99, 40:160].reshape(-1, 3)
    assert sum(close(p, KNOWN_COLOUR) for p in tag) > 0.4 * len(tag)
    assert sum(close(p, (255, 255, 255), 60) for p in tag) > 0.05 * len(tag)
    # Inside the boxes and elsewhere the picture is untouched.
    assert close(out[160, 100], (128, 128, 128), 3) and close(out[400, 100], (128, 128, 128), 3)


def test_a_box_half_outside_the_frame_is_clipped():
    yuv = grey_frame()
    draw_tracks(
        yuv, [TrackView(1, Box(600, -50, 100, 100), KNOWN, "amy", 99.0), TrackView(2, Box(700, 0, 5, 5), KNOWN, "x", 1)]
    )
    assert yuv.shape == (720, 640)
