"""Cutting one face out of a photo, for searching it alone or enrolling it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

# A crop around a small face is upscaled so the face is at least this many pixels wide, which
# is what the search-side detector needs without upsampling.
MIN_SEARCH_FACE_SIDE = 120


def face_crop(rgb: np.ndarray, box: dict, margin: float = 0.6, min_side: int = MIN_SEARCH_FACE_SIDE) -> bytes:
    """JPEG of the face in ``box`` with ``margin`` (of the face size) around it, upscaled so the
    face is at least ``min_side`` pixels wide."""
    h, w = rgb.shape[:2]
    fw, fh = box["Width"] * w, box["Height"] * h
    left = int(max(0, box["Left"] * w - margin * fw))
    top = int(max(0, box["Top"] * h - margin * fh))
    right = int(min(w, box["Left"] * w + fw * (1 + margin)))
    bottom = int(min(h, box["Top"] * h + fh * (1 + margin)))
    img = Image.fromarray(rgb[top:bottom, left:right])
    if fw < min_side:
        scale = min_side / max(fw, 1.0)
        img = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()
