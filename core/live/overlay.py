"""Boxes and names drawn into the frame that goes back to the browser, straight into its I420
planes (OpenCV: ~0.1 ms a face; its Hershey fonts are ASCII-only, which person names are —
ExternalImageId's alphabet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.live.frames import planes, size, yuv_colour
from core.live.policy import KNOWN, NO_FACE, UNKNOWN
from core.live.tracker import Box

# RGB. Green = a known person, red = nobody matched, amber = still identifying.
KNOWN_COLOUR = (22, 163, 74)
UNKNOWN_COLOUR = (220, 38, 38)
PENDING_COLOUR = (234, 179, 8)
NO_FACE_COLOUR = (160, 160, 160)
TEXT_COLOUR = (255, 255, 255)


@dataclass(frozen=True)
class TrackView:
    """A track as the page draws and lists it."""

    track_id: int
    box: Box  # predicted for the frame being drawn
    state: str
    person: str | None
    similarity: float | None

    @property
    def label(self) -> str:
        if self.state == KNOWN:
            return f"{self.person} {self.similarity:.0f}%" if self.similarity is not None else str(self.person)
        if self.state == UNKNOWN:
            return "?"
        if self.state == NO_FACE:
            return ""
        return "..."


def _colour(state: str) -> tuple[int, int, int]:
    return {KNOWN: KNOWN_COLOUR, UNKNOWN: UNKNOWN_COLOUR, NO_FACE: NO_FACE_COLOUR}.get(state, PENDING_COLOUR)


def _draw(yuv_planes, rgb: tuple[int, int, int], shape) -> None:
    """Draw ``shape(plane, value, scale)`` into each plane with the colour's Y, U, V value."""
    for plane, value, scale in zip(yuv_planes, yuv_colour(rgb), (1.0, 0.5, 0.5), strict=True):
        shape(plane, value, scale)


def draw_tracks(yuv: np.ndarray, views: list[TrackView]) -> np.ndarray:
    """Draw each track's box and label into the I420 frame ``yuv`` (in place); returns it."""
    import cv2  # noqa: PLC0415

    w, h = size(yuv)
    p = planes(yuv)
    line = max(2, round(min(w, h) / 160))
    font_scale = max(0.5, min(w, h) / 600)
    for v in views:
        b = v.box.clipped(w, h)
        if b.w <= 0 or b.h <= 0:
            continue
        x0, y0, x1, y1 = round(b.x), round(b.y), round(b.x + b.w), round(b.y + b.h)
        thickness = 1 if v.state == NO_FACE else line

        def box(plane, value, s, x0=x0, y0=y0, x1=x1, y1=y1, t=thickness):
            cv2.rectangle(plane, (int(x0 * s), int(y0 * s)), (int(x1 * s), int(y1 * s)), value, max(1, int(t * s)))

        _draw(p, _colour(v.state), box)
        label = v.label
        if not label:
            continue
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        ty = y0 - th - base - 6 if y0 - th - base - 6 >= 0 else min(h - th - base - 6, y1)
        lx1, ly1 = min(w - 1, x0 + tw + 8), ty + th + base + 6

        def tag(plane, value, s, x0=x0, ty=ty, lx1=lx1, ly1=ly1):
            cv2.rectangle(plane, (int(x0 * s), int(ty * s)), (int(lx1 * s), int(ly1 * s)), value, -1)

        def text(plane, value, s, x0=x0, ty=ty, th=th, label=label):
            cv2.putText(
                plane,
                label,
                (int((x0 + 4) * s), int((ty + th + 3) * s)),
                cv2.FONT_HERSHEY_SIMPLEX,
                font_scale * s,
                value,
                max(1, int(2 * s)),
            )

        _draw(p, _colour(v.state), tag)
        _draw(p, TEXT_COLOUR, text)
    return yuv
