"""Cutting one face out of a photo, for searching it alone or enrolling it, and moving boxes
found in such a crop back into the photo's coordinates."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# A crop around a small face is upscaled so the face is at least this many pixels wide, which
# is what the search-side detector needs without upsampling.
MIN_SEARCH_FACE_SIDE = 120


def crop_region(rgb: np.ndarray, box: dict, margin: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels of ``box`` (a BoundingBox in ratios) grown by
    ``margin`` of the face size on each side, within the image."""
    h, w = rgb.shape[:2]
    fw, fh = box["Width"] * w, box["Height"] * h
    left = int(max(0, box["Left"] * w - margin * fw))
    top = int(max(0, box["Top"] * h - margin * fh))
    right = int(min(w, box["Left"] * w + fw * (1 + margin)))
    bottom = int(min(h, box["Top"] * h + fh * (1 + margin)))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def face_crop(
    rgb: np.ndarray,
    box: dict,
    margin: float = 0.6,
    min_side: int = MIN_SEARCH_FACE_SIDE,
    max_side: int | None = None,
) -> bytes:
    """JPEG of the face in ``box`` with ``margin`` (of the face size) around it, upscaled so the
    face is at least ``min_side`` pixels wide and, with ``max_side``, downscaled so it is at
    most that wide (a bigger face only costs the search time)."""
    left, top, right, bottom = crop_region(rgb, box, margin)
    fw = box["Width"] * rgb.shape[1]
    img = Image.fromarray(rgb[top:bottom, left:right])
    scale = 1.0
    if fw < min_side:
        scale = min_side / max(fw, 1.0)
    elif max_side and fw > max_side:
        scale = max_side / fw
    if scale != 1.0:
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def box_to_frame(box: dict, region: tuple[int, int, int, int], width: int, height: int) -> dict:
    """A BoundingBox in ratios of a crop (``region`` of the frame, in pixels) as ratios of the
    ``width`` x ``height`` frame."""
    left, top, right, bottom = region
    cw, ch = right - left, bottom - top
    return {
        "Left": (left + box["Left"] * cw) / width,
        "Top": (top + box["Top"] * ch) / height,
        "Width": box["Width"] * cw / width,
        "Height": box["Height"] * ch / height,
    }


def detail_to_frame(detail: dict, region: tuple[int, int, int, int], width: int, height: int) -> dict:
    """A FaceDetail found in a crop, with its box and landmarks moved into frame ratios."""
    left, top, right, bottom = region
    out = dict(detail)
    out["BoundingBox"] = box_to_frame(detail["BoundingBox"], region, width, height)
    if detail.get("Landmarks"):
        out["Landmarks"] = [
            {**lm, "X": (left + lm["X"] * (right - left)) / width, "Y": (top + lm["Y"] * (bottom - top)) / height}
            for lm in detail["Landmarks"]
        ]
    return out
