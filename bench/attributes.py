"""FaceDetail attributes: how often each one is right on labelled faces, and what each costs.

    .venv/bin/python bench/attributes.py [--repeat N] [--no-cost]

Labels: tests/faces/attribute_labels.json (a person looked at each face of
../shared/data/faces; the photos stay there). Sunglasses and FaceOccluded have no real
positive among those faces, so their positives are the same faces with dark lenses or a
mask painted on (``synthetic_*`` below) and re-detected; that is said wherever the figure
is shown. Yes/no estimators are measured leave-one-out: each face is judged with the
threshold that is best on all the other faces. Prints figures; asserts nothing
(tests/faces/test_attributes.py holds the code's claims against ``measure``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces"
LABELS = ROOT / "tests" / "faces" / "attribute_labels.json"

from core.faces import attributes as attr  # noqa: E402
from core.faces import engine as eng  # noqa: E402
from core.images.codec import decode_image  # noqa: E402


@dataclass
class Labelled:
    label: dict
    work: eng.WorkImage
    face: eng.FoundFace


def labelled_faces(faces_dir: Path = FACES, labels_path: Path = LABELS) -> tuple[list[Labelled], list[dict]]:
    """Each label matched to the detected face nearest its centre; labels whose face the
    engine does not find come back in the second list."""
    engine = eng.get_engine()
    labels = json.loads(labels_path.read_text())["faces"]
    found, missed, cache = [], [], {}
    for lab in labels:
        if lab["file"] not in cache:
            work = engine.work_image(decode_image((faces_dir / lab["file"]).read_bytes()))
            cache[lab["file"]] = (work, engine.detect(work, thorough=True))
        work, faces = cache[lab["file"]]
        face = _nearest(work, faces, lab["center"])
        (found.append(Labelled(lab, work, face)) if face is not None else missed.append(lab))
    return found, missed


def _nearest(work, faces, center) -> eng.FoundFace | None:
    cx, cy = center[0] * work.width, center[1] * work.height
    best = None
    for f in faces:
        d = np.hypot((f.left + f.right) / 2 - cx, (f.top + f.bottom) / 2 - cy)
        if d < 0.5 * f.width and (best is None or d < best[0]):
            best = (d, f)
    return None if best is None else best[1]


# --- synthetic positives ---------------------------------------------------------------
def synthetic_sunglasses(work: eng.WorkImage, face: eng.FoundFace) -> eng.WorkImage:
    """The face with dark lenses and a bridge painted over its eyes."""
    import cv2

    rgb = work.rgb.copy()
    p = face.points68
    d = np.hypot(*(p[42:48].mean(0) - p[36:42].mean(0)))
    angle = float(np.degrees(np.arctan2(*(p[42:48].mean(0) - p[36:42].mean(0))[::-1])))
    for eye in (p[36:42].mean(0), p[42:48].mean(0)):
        centre = (int(eye[0]), int(eye[1] + 0.05 * d))
        axes = (int(0.42 * d), int(0.3 * d))
        cv2.ellipse(rgb, centre, axes, angle, 0, 360, (22, 20, 24), -1)
        cv2.ellipse(rgb, centre, axes, angle, 0, 360, (5, 5, 5), max(1, int(0.05 * d)))
    left, right = p[39], p[42]
    cv2.line(rgb, tuple(map(int, left)), tuple(map(int, right)), (5, 5, 5), max(1, int(0.05 * d)))
    return eng.WorkImage(rgb, work.width, work.height)


def synthetic_mask(work: eng.WorkImage, face: eng.FoundFace) -> eng.WorkImage:
    """The face with a plain light-blue mask from the nose bridge to the chin."""
    import cv2

    rgb = work.rgb.copy()
    p = face.points68
    outline = np.vstack([p[1:16], p[[29]]]).astype(np.int32)
    cv2.fillPoly(rgb, [cv2.convexHull(outline)], (170, 200, 225))
    return eng.WorkImage(rgb, work.width, work.height)


def _redetect(work: eng.WorkImage, like: eng.FoundFace) -> eng.FoundFace | None:
    faces = eng.get_engine().detect(work, thorough=True)
    centre = [(like.left + like.right) / 2 / work.width, (like.top + like.bottom) / 2 / work.height]
    return _nearest(work, faces, centre)


# --- leave-one-out threshold evaluation ------------------------------------------------
def _best_threshold(scores: np.ndarray, truths: np.ndarray) -> float:
    s = np.unique(scores)
    candidates = np.r_[s[0] - 1e-6, (s[:-1] + s[1:]) / 2, s[-1] + 1e-6]
    acc = np.array([np.mean((scores >= t) == truths) for t in candidates])
    best = candidates[acc == acc.max()]
    return float(best[len(best) // 2])


def leave_one_out(scores, truths) -> dict:
    """How a one-threshold rule does on faces it was not tuned on: for each face, the
    threshold best on the others judges it. Returns counts and the all-faces threshold."""
    scores, truths = np.asarray(scores, float), np.asarray(truths, bool)
    said = []
    for i in range(len(scores)):
        keep = np.arange(len(scores)) != i
        said.append(scores[i] >= _best_threshold(scores[keep], truths[keep]))
    said = np.array(said)
    return {
        "n": int(len(scores)),
        "positives": int(truths.sum()),
        "right": int((said == truths).sum()),
        "said_true": (int((said & truths).sum()), int(said.sum())),
        "said_false": (int((~said & ~truths).sum()), int((~said).sum())),
        "threshold": _best_threshold(scores, truths),
    }


def fixed_threshold(scores, truths, threshold: float) -> dict:
    scores, truths = np.asarray(scores, float), np.asarray(truths, bool)
    said = scores >= threshold
    return {
        "n": int(len(scores)),
        "positives": int(truths.sum()),
        "right": int((said == truths).sum()),
        "said_true": (int((said & truths).sum()), int(said.sum())),
        "said_false": (int((~said & ~truths).sum()), int((~said).sum())),
        "threshold": threshold,
    }


def measure(faces_dir: Path = FACES) -> dict:
    """Every attribute's accuracy on the labelled faces (see the module docstring)."""
    found, missed = labelled_faces(faces_dir)
    est = attr.get_estimator()
    out: dict = {"faces": len(found), "missed": len(missed)}

    def pairs(key, score_of):
        xs = [(score_of(item), item.label[key]) for item in found if item.label.get(key) is not None]
        return [s for s, _ in xs], [bool(t) for _, t in xs]

    chips = {id(item): attr.face_chip(item.work, item.face) for item in found}
    chip = lambda item: chips[id(item)]  # noqa: E731
    out["Eyeglasses"] = leave_one_out(*pairs("eyeglasses", lambda i: attr.glasses_score(chip(i))))
    out["Beard"] = leave_one_out(*pairs("beard", lambda i: attr.beard_score(chip(i))))
    out["Mustache"] = leave_one_out(*pairs("mustache", lambda i: attr.mustache_score(chip(i))))
    out["Smile"] = leave_one_out(*pairs("smile", lambda i: attr.smile_ratio(i.face.points68)))
    out["EyesOpen"] = leave_one_out(*pairs("eyes_open", lambda i: attr.eye_aspect_ratio(i.face.points68)))
    out["MouthOpen"] = leave_one_out(*pairs("mouth_open", lambda i: attr.mouth_open_ratio(i.face.points68)))

    # Sunglasses and FaceOccluded: real faces (all without) + the same faces painted.
    for name, paint, score, key in (
        ("Sunglasses", synthetic_sunglasses, attr.sunglasses_score, "sunglasses"),
        ("FaceOccluded", synthetic_mask, attr.occlusion_score, "face_occluded"),
    ):
        scores, truths, lost = [], [], 0
        for item in found:
            scores.append(score(chip(item)))
            truths.append(bool(item.label[key]))
            painted = paint(item.work, item.face)
            again = _redetect(painted, item.face)
            if again is None:
                lost += 1
                continue
            scores.append(score(attr.face_chip(painted, again)))
            truths.append(True)
        out[name] = {**leave_one_out(scores, truths), "synthetic": True, "not_redetected": lost}

    # Gender: the net's answer, split by how sure it was.
    sure, unsure, ages = [0, 0], [0, 0], []
    for item in found:
        probs = est.age_gender_probabilities(item.work, item.face)
        if probs is None:
            break
        a, male = probs
        right = (male >= 0.5) == (item.label["gender"] == "Male")
        bucket = sure if max(male, 1 - male) >= attr.GENDER_SURE else unsure
        bucket[0] += int(right)
        bucket[1] += 1
        age, _ = est.age_gender(item.work, item.face)
        ages.append((age["Low"], age["High"], item.label["apparent_age"], float(a @ attr._AGE_MIDDLES)))
    if ages:
        out["Gender"] = {
            "n": sure[1] + unsure[1],
            "right": sure[0] + unsure[0],
            "sure": tuple(sure),
            "unsure": tuple(unsure),
        }
        out["AgeRange"] = {
            "n": len(ages),
            "contains": sum(lo <= t <= hi for lo, hi, t, _ in ages),
            "within_8": sum(lo - 8 <= t <= hi + 8 for lo, hi, t, _ in ages),
            "says_child": sum(hi < 18 for lo, hi, t, _ in ages),
            "mae_years": round(statistics.mean(abs(e - t) for _, _, t, e in ages), 1),
            "mean_width": round(statistics.mean(hi - lo for lo, hi, _, _ in ages), 1),
        }

    with_emotion = [i for i in found if i.label.get("emotion")]
    marks = [
        (attr.emotion_list(attr.emotion_probabilities(i.face.points68), (1, 1))[0]["Type"], i.label["emotion"])
        for i in with_emotion
    ]
    out["Emotions (landmarks)"] = {"n": len(marks), "right": sum(a == b for a, b in marks), "pairs": marks}
    if est.has_emotion_model:
        model = []
        for i in with_emotion:
            probs = est.emotion_model_probabilities(i.work, i.face)
            model.append((max(probs, key=probs.get), i.label["emotion"]))
        out["Emotions (model)"] = {"n": len(model), "right": sum(a == b for a, b in model), "pairs": model}

    looks = []
    for item in found:
        if item.label.get("looking_at_camera") is None:
            continue
        yaw, pitch = attr.eye_direction(chip(item))
        limit = attr.EYE_AT_CAMERA_DEGREES
        looks.append(((abs(yaw) < limit and abs(pitch) < limit), bool(item.label["looking_at_camera"])))
    out["EyeDirection"] = {
        "n": len(looks),
        "right": sum(a == b for a, b in looks),
        "averted": sum(not b for _, b in looks),
        "said_at_camera": (sum(a and b for a, b in looks), sum(a for a, _ in looks)),
        "said_averted": (sum(not a and not b for a, b in looks), sum(not a for a, _ in looks)),
    }
    return out


def _rate(right_said) -> str:
    right, said = right_said
    return f"{right}/{said}"


def print_accuracy(m: dict) -> None:
    print(f"labelled faces found: {m['faces']} (not found by the detector: {m['missed']})")
    print(f"{'attribute':13s} {'right':>9s} {'said True':>10s} {'said False':>11s}  threshold  notes")
    for name in ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "Smile", "EyesOpen", "MouthOpen", "FaceOccluded"):
        r = m[name]
        note = f"{r['positives']} positives"
        if r.get("synthetic"):
            note += f" (painted; {r['not_redetected']} painted faces not re-detected)"
        print(
            f"{name:13s} {r['right']:>3d}/{r['n']:<3d}   {_rate(r['said_true']):>8s}   {_rate(r['said_false']):>8s}"
            f"   {r['threshold']:8.3f}  {note}"
        )
    if "Gender" in m:
        g = m["Gender"]
        print(
            f"{'Gender':13s} {g['right']:>3d}/{g['n']:<3d}   sure(>={attr.GENDER_SURE}) {_rate(g['sure'])}"
            f"  unsure {_rate(g['unsure'])}"
        )
        a = m["AgeRange"]
        print(
            f"{'AgeRange':13s} contains the labeller's apparent age {a['contains']}/{a['n']}, within 8 years"
            f" {a['within_8']}/{a['n']}, says under 18 for {a['says_child']} adults, MAE of expected age"
            f" {a['mae_years']} y, mean width {a['mean_width']} y"
        )
    for name in ("Emotions (model)", "Emotions (landmarks)"):
        if name in m:
            print(f"{name:13s} top-1 {m[name]['right']}/{m[name]['n']}")
    d = m["EyeDirection"]
    print(
        f"{'EyeDirection':13s} at-camera vs averted {d['right']}/{d['n']} ({d['averted']} averted);"
        f" said at camera {_rate(d['said_at_camera'])}, said averted {_rate(d['said_averted'])}"
    )


GEOMETRY = (attr.smile_ratio, attr.eye_aspect_ratio, attr.mouth_open_ratio)


def measure_costs(repeat: int) -> None:
    """Milliseconds per face of each attribute, against detecting that face (same run)."""
    found, _ = labelled_faces()
    engine, est = eng.get_engine(), attr.get_estimator()
    items = found[:12]

    def per_face(fn) -> float:
        times = []
        for _ in range(repeat):
            for item in items:
                t = time.perf_counter()
                fn(item)
                times.append(time.perf_counter() - t)
        return statistics.median(times) * 1000

    chips = {id(i): attr.face_chip(i.work, i.face) for i in items}
    base = per_face(lambda i: engine.detect(i.work, thorough=False))
    rows = [
        ("detect (baseline)", base),
        ("descriptor (engine)", per_face(lambda i: engine.descriptor(i.work, i.face))),
        ("AgeRange+Gender (2 nets)", per_face(lambda i: est.age_gender(i.work, i.face))),
        ("aligned chip (shared)", per_face(lambda i: attr.face_chip(i.work, i.face))),
        ("Eyeglasses", per_face(lambda i: attr.glasses_score(chips[id(i)]))),
        ("Sunglasses", per_face(lambda i: attr.sunglasses_score(chips[id(i)]))),
        ("Beard", per_face(lambda i: attr.beard_score(chips[id(i)]))),
        ("Mustache", per_face(lambda i: attr.mustache_score(chips[id(i)]))),
        ("FaceOccluded", per_face(lambda i: attr.occlusion_score(chips[id(i)]))),
        ("EyeDirection", per_face(lambda i: attr.eye_direction(chips[id(i)]))),
        ("Emotions (facex model)", per_face(lambda i: est.emotion_model_probabilities(i.work, i.face))),
        ("Emotions (landmarks)", per_face(lambda i: attr.emotion_probabilities(i.face.points68))),
        (
            "Smile+EyesOpen+MouthOpen",
            per_face(lambda i: [f(i.face.points68) for f in GEOMETRY]),
        ),
        ("Pose", per_face(lambda i: attr.head_pose(i.face.points68, i.work.width, i.work.height))),
        ("Quality", per_face(lambda i: attr.brightness_sharpness(i.work, i.face))),
        ("Landmarks", per_face(lambda i: attr.landmarks(i.work, i.face))),
        ("describe ALL (total)", per_face(lambda i: est.describe(i.work, i.face, {"ALL"}))),
        ("describe DEFAULT (total)", per_face(lambda i: est.describe(i.work, i.face, {"DEFAULT"}))),
    ]
    print(f"\ncost per face, median of {repeat} x {len(items)} faces (~150 px faces), ratio to detecting that face:")
    for name, ms in rows:
        print(f"  {name:26s} {ms:8.2f} ms  {ms / base:6.2f}x")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-cost", action="store_true")
    args = ap.parse_args()
    if not FACES.is_dir():
        print(f"SKIPPED: {FACES} is absent (the labelled photos live there)")
        return
    print(
        f"{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores,"
        f" python {platform.python_version()}"
    )
    print_accuracy(measure())
    if not args.no_cost:
        measure_costs(args.repeat)


if __name__ == "__main__":
    main()
