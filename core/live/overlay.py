"""Boxes and names drawn on the frame that goes back to the browser (OpenCV: ~0.1 ms a face;
its Hershey fonts are ASCII-only, which person names are — ExternalImageId's alphabet)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.live.policy import KNOWN, NO_FACE, UNKNOWN
from core.live.tracker import Box

# RGB. Green = a known person, red = nobody matched, amber = still identifying.
KNOWN_COLOUR = (22, 163, 74)
UNKNOWN_COLOUR = (220, 38, 38)
PENDING_COLOUR = (234, 179, 8)
NO_FACE_COLOUR = (160, 160, 160)


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


def draw_tracks(rgb: np.ndarray, views: list[TrackView]) -> np.ndarray:
    """Draw each track's box and label onto ``rgb`` (in place); returns it."""
    import cv2  # noqa: PLC0415

    h, w = rgb.shape[:2]
    line = max(2, round(min(w, h) / 160))
    font_scale = max(0.5, min(w, h) / 600)
    for v in views:
        b = v.box.clipped(w, h)
        if b.w <= 0 or b.h <= 0:
            continue
        colour = _colour(v.state)
        x0, y0, x1, y1 = round(b.x), round(b.y), round(b.x + b.w), round(b.y + b.h)
        cv2.rectangle(rgb, (x0, y0), (x1, y1), colour, 1 if v.state == NO_FACE else line)
        label = v.label
        if not label:
            continue
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        ty = y0 - th - base - 6 if y0 - th - base - 6 >= 0 else min(h - th - base - 6, y1)
        cv2.rectangle(rgb, (x0, ty), (min(w - 1, x0 + tw + 8), ty + th + base + 6), colour, -1)
        cv2.putText(rgb, label, (x0 + 4, ty + th + 3), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 2)
    return rgb
