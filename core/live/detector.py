"""The cheap face detector that feeds the live tracker: dlib's HOG frontal-face detector
(already installed for the face engine) on the frame shrunk to ``max_side``.

Measured here on 640x480 frames (bench/live.py prints it again): HOG without upsampling
~40 ms and finds faces from ~80 px; OpenCV's Haar cascades (the 4.x wheel ships them) took
30-60 ms with more misses and false faces. Whatever it finds is only a candidate: the
identification path detects again, and a patch it finds no face in is never named.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from core.live.tracker import Box


@functools.cache
def _frontal_detector():
    """dlib's HOG model, loaded once per process: loading takes 0.5-3 s on these 2 cores, which
    must never happen on the video thread (``warm_up`` loads it in the background)."""
    import dlib  # noqa: PLC0415 (only live mode needs it here)

    return dlib.get_frontal_face_detector(), threading.Lock()


def warm_up() -> None:
    """Load the detector now (call from a background thread when Live is opened)."""
    _frontal_detector()


class HogFaceDetector:
    def __init__(self, max_side: int = 640, upsample: int = 0, min_score: float = 0.0):
        self.max_side = max_side
        self.upsample = upsample
        self.min_score = min_score

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in ``image`` (HxW greyscale or HxWx3 RGB, uint8) as boxes in its pixels, most
        confident first."""
        import cv2  # noqa: PLC0415

        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)), cv2.INTER_AREA)
        detector, lock = _frontal_detector()
        with lock:
            rects, scores, _ = detector.run(np.ascontiguousarray(small), self.upsample, self.min_score)
        found = sorted(zip(scores, rects), key=lambda sr: -sr[0])
        boxes = []
        for _, r in found:
            box = Box(r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale).clipped(w, h)
            if box.w >= 8 and box.h >= 8:
                boxes.append(box)
        return boxes
