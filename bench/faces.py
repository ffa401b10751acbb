"""Face engine benchmark: accuracy on ../shared/data/faces, latency per stage, 1:N search
scale, model load and memory. Prints figures; asserts nothing.

    .venv/bin/python bench/faces.py [--quick] [--search | --engine]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FACES = ROOT.parent / "shared" / "data" / "faces"

from core.faces import engine as eng  # noqa: E402
from core.faces.local import (  # noqa: E402
    SIMILARITY_MIDPOINT,
    LocalFaceCollections,
    similarity_from_distance,
)
from core.faces.search import SearchIndex  # noqa: E402
from core.faces.synthetic import Population  # noqa: E402
from core.images.codec import decode_image  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"p50 {statistics.median(xs) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def scene(paths: list[Path], size: tuple[int, int], face_px: int) -> bytes:
    """A photo-like test image: face crops of ``face_px`` on a textured background."""
    w, h = size
    rng = np.random.default_rng(0)
    bg = (rng.normal(120, 25, (h, w, 3)).clip(0, 255)).astype(np.uint8)
    canvas = Image.fromarray(bg)
    cols = max(1, min(len(paths), w // face_px))
    for i, p in enumerate(paths):
        face = Image.open(p).convert("RGB").resize((face_px, face_px))
        x = (i % cols) * (w // cols) + (w // cols - face_px) // 2
        y = (i // cols) * (h // max(1, (len(paths) + cols - 1) // cols)) + 10
        canvas.paste(face, (x, y))
    return jpeg(canvas)


def accuracy(faces_root: Path, e: eng.FaceEngine, enrol: str = "identify", probe: str = "identify") -> None:
    """Identification and verification on the labelled crops as served: faces enrolled as
    IndexFaces detects them (``enrol`` mode), probes as SearchFacesByImage does (``probe``)."""
    people = {p.name: sorted(p.glob("*.png")) for p in sorted((faces_root / "labelled").iterdir())}
    vec, enrolled = {}, {}
    for person, paths in people.items():
        for p in paths:
            w = e.work_image(decode_image(p.read_bytes()))
            f = e.detect(w, detector=probe)
            vec[p] = (person, e.descriptor(w, f[0]) if f else None)
            f = e.detect(w, detector=enrol)
            enrolled[p] = e.descriptor(w, f[0]) if f else None
    missing = [p for p, (_, v) in vec.items() if v is None]
    print(f"detected a face in {len(vec) - len(missing)}/{len(vec)} labelled crops")
    # Closed set: enrol image 1 of everyone, identify the rest (top-1 and accepted at 80).
    gallery = {person: enrolled[paths[0]] for person, paths in people.items()}
    top1 = accepted = total = 0
    for person, paths in people.items():
        for p in paths[1:]:
            d = {q: float(np.linalg.norm(vec[p][1] - g)) for q, g in gallery.items()}
            best = min(d, key=d.get)
            total += 1
            top1 += best == person
            accepted += best == person and similarity_from_distance(d[best]) >= 80
    print(
        f"identification top-1: {top1}/{total} = {100 * top1 / total:.1f} %; "
        f"accepted at threshold 80: {accepted}/{total}"
    )
    # Open set: each person in turn is unknown; is any of their photos accepted as someone?
    unknown_accepted = unknown_total = 0
    for unknown in people:
        others = {q: g for q, g in gallery.items() if q != unknown}
        for p in people[unknown]:
            unknown_total += 1
            unknown_accepted += any(
                similarity_from_distance(float(np.linalg.norm(vec[p][1] - g))) >= 80 for g in others.values()
            )
    print(f"open set: unknown probes accepted as someone: {unknown_accepted}/{unknown_total}")
    # Verification over all pairs: one photo as enrolled, the other as a probe.
    same, diff = [], []
    for (pa_path, (pa, _)), (_probe_path, (pb, vb)) in itertools.combinations(vec.items(), 2):
        d = float(np.linalg.norm(enrolled[pa_path] - vb))
        (same if pa == pb else diff).append(similarity_from_distance(d))
    frr = sum(s < 80 for s in same) / len(same)
    far = sum(s >= 80 for s in diff) / len(diff)
    eer_t = min(
        range(0, 101), key=lambda t: abs(sum(s < t for s in same) / len(same) - sum(s >= t for s in diff) / len(diff))
    )
    eer = (sum(s < eer_t for s in same) / len(same) + sum(s >= eer_t for s in diff) / len(diff)) / 2
    print(
        f"verification at 80: FRR {100 * frr:.1f} % ({len(same)} genuine pairs), "
        f"FAR {100 * far:.2f} % ({len(diff)} impostor pairs); EER {100 * eer:.1f} % at similarity {eer_t}"
    )
    print(
        f"  genuine similarity min {min(same):.1f}, impostor similarity max {max(diff):.1f} "
        f"(distance at 50 = {SIMILARITY_MIDPOINT})"
    )


# The 12 visible faces of the shared group photos (x, y, w, h), checked by eye: HOG's boxes
# plus the face cut by bbt2's left edge that HOG misses.
GROUP_FACES = {
    "bbt1": [(999, 102, 96, 96), (476, 166, 96, 96), (209, 156, 96, 96), (732, 156, 96, 96)],
    "bbt2": [(354, 126, 90, 90), (106, 136, 89, 89), (0, 75, 50, 75)],
    "bbt3": [(487, 108, 63, 63), (31, 39, 62, 62), (158, 101, 52, 52), (366, 118, 51, 51), (256, 113, 52, 52)],
}


def _recall_cases(faces_root: Path):
    """(kind, image, boxes or None for 'the one face') — group photos, the same shrunk (small
    background faces), selfie-close crops of each group face (chin / forehead / both cut off,
    480 px tall) and the single-face photos, whole and cut 18 % top and bottom."""
    import cv2

    for name, boxes in GROUP_FACES.items():
        img = decode_image((faces_root / "groups" / f"{name}.jpg").read_bytes()).rgb
        yield "group photos", img, boxes
        for s in (0.5, 0.35):
            small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            yield f"groups x{s}", small, [(x * s, y * s, w * s, h * s) for x, y, w, h in boxes]
        for x, y, w, h in boxes:
            if x <= 0:
                continue
            for cut, (top, bottom) in {"chin cut": (0.35, 0.15), "forehead cut": (-0.05, 0.5)}.items():
                x0, x1 = int(x - 0.35 * w), int(x + 1.35 * w)
                y0, y1 = int(y - 0.6 * h + top * h * 1.6), int(y + 1.45 * h - bottom * h * 1.6)
                x0, y0, x1, y1 = max(0, x0), max(0, y0), min(img.shape[1], x1), min(img.shape[0], y1)
                s = 480 / (y1 - y0)
                crop = cv2.resize(img[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
                yield f"group face, {cut}", crop, [((x - x0) * s, (y - y0) * s, w * s, h * s)]
    for p in sorted(faces_root.glob("labelled/*/*.png")) + sorted(faces_root.glob("emotions/*.jpg")):
        img = decode_image(p.read_bytes()).rgb
        h, w = img.shape[:2]
        yield "single-face photos", img, None
        crop = img[int(0.18 * h) : int(0.82 * h), int(0.1 * w) : int(0.9 * w)]
        s = 480 / crop.shape[0]
        yield "the same, cut 18 % top+bottom", cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC), None


def detection_recall(faces_root: Path, engine: eng.FaceEngine, with_mmod: bool) -> dict:
    """Recall of each detector on the shared photos and crops made from them (a face counts
    when a detected box contains its centre; extra boxes are counted as false), with the
    median time per image, all in the same run. Returns {detector: {set: [found, faces, extra]}}."""
    detectors = {
        "HOG alone (no bordered retry)": lambda w: [f[:4] for f in engine._hog(w.rgb, True)],
        "HOG + bordered retry (before)": lambda w: [
            (f.left, f.top, f.right, f.bottom) for f in engine.detect(w, thorough=True, detector="hog")
        ],
        "MTCNN alone (onnxruntime)": lambda w: [d[:4] for d in engine._mtcnn_faces(w.rgb, True)],
        "MTCNN, else HOG + retry (identify)": lambda w: [
            (f.left, f.top, f.right, f.bottom) for f in engine.detect(w, thorough=True, detector="identify")
        ],
        "HOG + MTCNN's extra faces (describe)": lambda w: [
            (f.left, f.top, f.right, f.bottom) for f in engine.detect(w, thorough=True)
        ],
    }
    if engine._mtcnn is None:
        print(f"  MTCNN not loaded ({engine.detector_status}): its rows are HOG's")
    if with_mmod:
        from core.faces.mmod import MmodDetector

        mmod = MmodDetector(engine.models_dir / "mmod_human_face_detector.dat")
        detectors["MMOD CNN (dlib's, via onnxruntime)"] = lambda w: [d[:4] for d in mmod.detect(w.rgb, 0)]
    cases = [
        (k, eng.WorkImage(np.ascontiguousarray(img), img.shape[1], img.shape[0]), b)
        for k, img, b in _recall_cases(faces_root)
    ]
    kinds = list(dict.fromkeys(k for k, _, _ in cases))
    print(
        "detection recall on ../shared/data/faces and crops made from it "
        "(found/faces, +extra boxes; median ms per image, ratio to 'HOG + bordered retry (before)'; same run):"
    )
    results, medians = {}, {}
    for name, detect in detectors.items():
        got = {k: [0, 0, 0] for k in kinds}
        times = []
        for kind, work, boxes in cases:
            t0 = time.perf_counter()
            dets = detect(work)
            times.append(time.perf_counter() - t0)
            if boxes is None:
                got[kind][0] += bool(dets)
                got[kind][1] += 1
                got[kind][2] += max(0, len(dets) - 1)
                continue
            hit = set()
            for x, y, w, h in boxes:
                cx, cy = x + w / 2, y + h / 2
                inside = [i for i, (lf, t, r, b) in enumerate(dets) if lf <= cx <= r and t <= cy <= b]
                got[kind][0] += bool(inside)
                got[kind][1] += 1
                hit.update(inside)
            got[kind][2] += len(dets) - len(hit)
        medians[name] = statistics.median(times)
        results[name] = got
        cells = "  ".join(f"{k} {a}/{b}" + (f" +{c}" if c else "") for k, (a, b, c) in got.items())
        base = medians.get("HOG + bordered retry (before)")
        ratio = f", {medians[name] / base:.2f}x" if base else ""
        print(f"  {name:36s} {cells}  ({medians[name] * 1000:.0f} ms{ratio})")
    return results


def box_maps(faces_root: Path, engine: eng.FaceEngine) -> None:
    """Refit the two box conversions the engine uses (DLIB_BOX: MTCNN box -> HOG square, the
    5-point shape's start; box_from_shape5: 5 points -> HOG square) on the shared photos and
    print them beside the constants in core/faces/engine.py."""
    if engine._mtcnn is None:
        return
    paths = sorted(faces_root.glob("labelled/*/*.png")) + sorted(faces_root.glob("emotions/*.jpg"))
    paths += sorted(faces_root.glob("groups/*.jpg"))
    to_hog, from_points = [], []
    for p in paths:
        work = engine.work_image(decode_image(p.read_bytes()))
        raw = engine._mtcnn.detect(work.rgb, eng.MIN_FACE, eng.MTCNN_THRESHOLDS)
        for f in engine.detect(work, thorough=True, detector="hog"):
            pts = np.array([(q.x, q.y) for q in f.shape5.parts()], dtype=np.float64)
            eyes, nose = pts[:4].mean(axis=0), pts[4]
            s = float(np.linalg.norm(pts[0] - pts[2]))
            c = np.array([(f.left + f.right) / 2, (f.top + f.bottom) / 2])
            v = nose - eyes
            from_points.append((float(np.dot(c - eyes, v) / np.dot(v, v)), f.width / s))
            inside = [b for b in raw if b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]]
            whole = f.left > 0 and f.top > 0 and f.right < work.width and f.bottom < work.height
            if inside and whole:
                x1, y1, x2, y2 = inside[0][:4]
                w = x2 - x1
                to_hog.append(((c[0] - (x1 + x2) / 2) / w, (c[1] - (y1 + y2) / 2) / w, f.width / w))
    a, b = np.median(to_hog, axis=0), np.median(from_points, axis=0)
    print(
        f"box conversions refitted: MTCNN->HOG dx {a[0]:.3f} dy {a[1]:.3f} side {a[2]:.3f} over {len(to_hog)} faces "
        f"(code: {eng.DLIB_BOX}); 5 points->HOG eyes-to-nose {b[0]:.4f} side {b[1]:.4f} over {len(from_points)} "
        f"faces (code: {eng.BOX_FROM_EYES_TO_NOSE}, {eng.BOX_SIDE})"
    )


def detector_descriptors(faces_root: Path, engine: eng.FaceEngine) -> None:
    """How far the descriptor of a face moves when MTCNN (and the 5-point box) finds it instead
    of HOG: L2 over the shared faces both find whole (0.58 is the threshold 80)."""
    if engine._mtcnn is None:
        return
    paths = sorted(faces_root.glob("labelled/*/*.png")) + sorted(faces_root.glob("emotions/*.jpg"))
    paths += sorted(faces_root.glob("groups/*.jpg"))
    gaps = []
    for p in paths:
        work = engine.work_image(decode_image(p.read_bytes()))
        hog = engine.detect(work, thorough=True, detector="hog")
        new = [f for f in engine.detect(work, thorough=True, detector="identify") if f.detector == "mtcnn"]
        pairs = []
        for f in hog:
            cx, cy = (f.left + f.right) / 2, (f.top + f.bottom) / 2
            m = [g for g in new if g.left <= cx <= g.right and g.top <= cy <= g.bottom]
            if m:
                pairs.append((f, m[0]))
        if pairs:
            a = engine.descriptors(work, [f for f, _ in pairs])
            b = engine.descriptors(work, [g for _, g in pairs])
            gaps += list(np.linalg.norm(a - b, axis=1))
    if gaps:
        print(
            f"descriptor moved by the detector (MTCNN vs HOG, same face) over {len(gaps)} faces: "
            f"L2 median {np.median(gaps):.3f}, p90 {np.quantile(gaps, 0.9):.3f}, max {max(gaps):.3f} "
            f"(same person < ~0.5; threshold 80 = 0.58)"
        )


def parity(faces_root: Path, engine: eng.FaceEngine, reference: eng.FaceEngine) -> float:
    """Max L2 between the ONNX and dlib descriptors over every face of the shared images."""
    paths = sorted(faces_root.glob("labelled/*/*.png")) + sorted(faces_root.glob("emotions/*.jpg"))
    paths += sorted(faces_root.glob("groups/*.jpg"))
    gaps = []
    for p in paths:
        work = engine.work_image(decode_image(p.read_bytes()))
        found = engine.detect(work, thorough=True)
        if found:
            gaps += list(np.linalg.norm(engine.descriptors(work, found) - reference.descriptors(work, found), axis=1))
    worst = float(max(gaps)) if gaps else float("nan")
    print(
        f"parity ONNX vs dlib over {len(gaps)} faces of {len(paths)} shared images: "
        f"max L2 {worst:.2e}, median {float(np.median(gaps)):.2e} (must be < 1e-3)"
    )
    return worst


def latency(faces_root: Path, runs: int, engines: dict[str, eng.FaceEngine]) -> dict:
    """Per-stage latency for each engine, runs interleaved so both see the same machine load.
    Returns {(case, engine name): {stage: [seconds]}}."""
    people = sorted((faces_root / "labelled").iterdir())
    one = [sorted(people[0].glob("*.png"))[0]]
    six = [sorted(p.glob("*.png"))[1] for p in people] + [sorted(people[0].glob("*.png"))[2]]
    collections = {}
    for name, e in engines.items():
        faces = LocalFaceCollections(Path(tempfile.mkdtemp()), engine=e)
        faces.create_collection(CollectionId="bench")
        for p in people:
            faces.index_faces(
                CollectionId="bench", Image={"Bytes": sorted(p.glob("*.png"))[0].read_bytes()}, ExternalImageId=p.name
            )
        collections[name] = faces
    cases = [
        ("1 face", one, (640, 480), 200),
        ("1 face", one, (1280, 720), 300),
        ("6 faces", six, (640, 480), 150),
        ("6 faces", six, (1280, 720), 200),
    ]
    results: dict = {}
    names = list(engines)
    for label, paths, size, px in cases:
        data = scene(paths, size, px)
        case = f"{label} @{size[0]}x{size[1]}"
        stages = ("decode", "detect", "align", "embed", "search", "total", "api", "cpu total", "cpu api")
        t = {n: {k: [] for k in stages} for n in names}
        found = {}
        for _ in range(runs):
            for n in names:
                e, faces = engines[n], collections[n]
                index = faces.store.search_index("bench")
                c0 = time.process_time()
                t0 = time.perf_counter()
                work = e.work_image(decode_image(data))
                t1 = time.perf_counter()
                st: dict = {}
                fs = e.detect(work, thorough=len(paths) > 1, timings=st, detector="identify")
                t2 = time.perf_counter()
                vecs = e.descriptors(work, fs)
                t3 = time.perf_counter()
                for v in vecs:
                    index.nearest(v, 10)
                t4 = time.perf_counter()
                t[n]["cpu total"].append(time.process_time() - c0)
                found[n] = len(fs)
                for k, v in (("decode", t1 - t0), ("embed", t3 - t2), ("search", t4 - t3), ("total", t4 - t0)):
                    t[n][k].append(v)
                t[n]["detect"].append(st.get("detect", 0.0))
                t[n]["align"].append(st.get("align", 0.0))
                c0 = time.process_time()
                a0 = time.perf_counter()
                faces.search_faces_by_image(CollectionId="bench", Image={"Bytes": data})
                t[n]["api"].append(time.perf_counter() - a0)
                t[n]["cpu api"].append(time.process_time() - c0)
        counts = ", ".join(f"{n} {found[n]}" for n in names)
        print(f"{case} (faces found: {counts}; {runs} runs each, p50 ms; '{names[0]}' over each same-run baseline):")
        for k in t[names[0]]:
            label_k = {
                "total": "all faces end to end",
                "api": "SearchFacesByImage (largest face)",
                "cpu total": "  CPU time (all threads), all faces",
                "cpu api": "  CPU time, SearchFacesByImage",
            }.get(k, k)
            med = {n: statistics.median(t[n][k]) for n in names}
            cells = "   ".join(f"{n} {med[n] * 1000:7.1f}" for n in names)
            ratios = "  ".join(f"/{n} {med[names[0]] / med[n]:5.2f}" if med[n] else f"/{n}   -  " for n in names[1:])
            print(f"  {label_k:34s} {cells}   ratio {ratios}")
        for n in names:
            results[(case, n)] = t[n]
    return results


def rss_now_mb() -> float:
    """Current resident set (not the peak): what an index adds is the difference."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _build(n: int, gallery: np.ndarray, quantise: bool) -> tuple[SearchIndex, float, float]:
    """(index, build seconds, MB of RSS it added)."""
    before = rss_now_mb()
    t0 = time.perf_counter()
    index = SearchIndex(quantise=quantise)
    index.append(np.arange(1, n + 1), [str(i) for i in range(n)], gallery)
    return index, time.perf_counter() - t0, rss_now_mb() - before


def search_scale(sizes: list[int], runs: int, recall_probes: int = 200) -> list:
    """1:N top 10 as served (``SearchIndex``: from ``QUANTISE_FROM`` faces an int8 first pass
    with NumKong + float32 re-rank under a proven bound) against the same run's exact float32
    scan (the baseline: what search did before), on synthetic descriptors shaped like dlib's
    (``core.faces.synthetic``): known probes are a stored face plus 0.3-0.5 of noise, unknown
    probes are new people. Latency: ``runs`` probes timed interleaved with the exact scan (which
    evicts the int8 codes from the 32 MB L3: pessimistic) and back to back (a server doing only
    searches). Agreement: ``recall_probes`` probes, recall@1 and whole top 10 vs exact.
    Returns rows for the summary table."""
    rng = np.random.default_rng(1)
    pop = Population()
    rows = []
    print(
        "1:N search, top 10, synthetic dlib-like descriptors; served index vs the same run's exact float32 scan "
        "(CPU = all threads of this process):"
    )
    for n in sizes:
        gallery = pop.photos(n, rng)
        exact, exact_s, exact_mb = _build(n, gallery, quantise=False)
        served, served_s, served_mb = _build(n, gallery, quantise=True)
        t = {k: [] for k in ("exact", "served", "exact cpu", "served cpu", "served back to back")}
        probes, _truth = pop.probes(gallery, runs, max(2, runs // 4), rng)
        for q in probes:  # interleaved
            for name, index in (("exact", exact), ("served", served)):
                c0, t0 = time.process_time(), time.perf_counter()
                index.nearest(q, 10)
                t[name].append(time.perf_counter() - t0)
                t[name + " cpu"].append(time.process_time() - c0)
        for q in probes:
            t0 = time.perf_counter()
            served.nearest(q, 10)
            t["served back to back"].append(time.perf_counter() - t0)
        probes, truth = pop.probes(gallery, recall_probes * 3 // 4, recall_probes - recall_probes * 3 // 4, rng)
        hits = {"exact": 0, "served": 0}
        same_top1 = same_top10 = 0
        served.two_pass_searches = served.reranked_rows = 0
        for q, row in zip(probes, truth):
            got = {name: index.nearest(q, 10) for name, index in (("exact", exact), ("served", served))}
            for name in hits:
                hits[name] += row >= 0 and got[name][0][0] == str(row)
            same_top1 += got["exact"][0][0] == got["served"][0][0]
            same_top10 += [f for f, _ in got["exact"]] == [f for f, _ in got["served"]]
        known = int((truth >= 0).sum())
        reranked = served.reranked_rows / max(served.two_pass_searches, 1)
        med = {k: statistics.median(v) * 1000 for k, v in t.items()}
        codes_mb = served.code_bytes / 2**20
        print(
            f"  {n:>9,} faces: served p50 {med['served']:7.2f} ms (CPU {med['served cpu']:6.2f}), back to back "
            f"{med['served back to back']:7.2f} ms   exact p50 {med['exact']:7.2f} ms (CPU {med['exact cpu']:6.2f})   "
            f"ratio {med['served'] / med['exact']:5.2f} / {med['served back to back'] / med['exact']:5.2f}"
        )
        print(
            f"  {'':>9}        over {len(probes)} probes: top 1 identical {same_top1}/{len(probes)}, top 10 identical "
            f"{same_top10}/{len(probes)}; recall@1 of known faces served {hits['served']}/{known} vs exact "
            f"{hits['exact']}/{known}; rows re-ranked in float32 per search {reranked:,.0f} "
            f"({100 * reranked / n:.2f} %)"
        )
        print(
            f"  {'':>9}        memory: float32 vectors {gallery.nbytes / 2**20:6.0f} MB (the truth, both indexes) "
            f"+ int8 codes {codes_mb:5.0f} MB; RSS added served {served_mb:6.0f} MB (built in {served_s:5.2f} s) "
            f"vs exact {exact_mb:6.0f} MB (built in {exact_s:5.2f} s)"
        )
        if n in (100_000, 1_000_000):
            target_ms = 1.5 if n == 100_000 else 15.0
            timings = (("interleaved with exact", med["served"]), ("back to back", med["served back to back"]))
            for label, value in timings:
                verdict = "met" if value <= target_ms and same_top10 == len(probes) else "NOT met"
                rows.append(
                    (
                        f"1:N top-10 at {n:,} faces, {label}",
                        value,
                        med["exact"],
                        f"target <= {target_ms:g} ms, top 10 = exact's: {verdict}; top 10 identical "
                        f"{same_top10}/{len(probes)}, recall@1 {hits['served']}/{known} "
                        f"= exact's {hits['exact']}/{known}; "
                        f"CPU {med['served cpu']:.2f} vs {med['exact cpu']:.2f} ms; int8 codes {codes_mb:.0f} MB, "
                        f"build {served_s:.1f} s",
                    )
                )
        del exact, served, gallery
    return rows


def store_load(n: int) -> None:
    """Time to load a collection's index from SQLite, to catch up with another process's
    enrolment and deletion, and to check that it is current."""
    from core.faces.store import FaceStore, StoredFace

    tmp = Path(tempfile.mkdtemp())
    store, other = FaceStore(tmp / "faces.db"), FaceStore(tmp / "faces.db")
    store.create_collection("big")
    rng = np.random.default_rng(2)
    pop = Population()
    batch = 10_000

    def enrol(start: int, count: int) -> None:
        vectors = pop.photos(count, rng)
        store.add_faces(
            "big",
            [
                (StoredFace(f"{i:08x}-0000-0000-0000-000000000000", "p", "img", {}, 99.0, 0.0), vectors[i - start])
                for i in range(start, start + count)
            ],
        )

    t0 = time.perf_counter()
    for start in range(0, n, batch):
        enrol(start, min(batch, n - start))
    t1 = time.perf_counter()
    other.search_index("big")
    t2 = time.perf_counter()
    other.search_index("big")
    t3 = time.perf_counter()
    enrol(n, 1)
    store.delete_faces("big", ["00000007-0000-0000-0000-000000000000"])
    t4 = time.perf_counter()
    index = other.search_index("big")
    t5 = time.perf_counter()
    assert len(index) == n
    print(
        f"store: {n:,} faces inserted in {t1 - t0:.1f} s; index load {1000 * (t2 - t1):.0f} ms; "
        f"current check {1000 * (t3 - t2):.2f} ms; catch up with 1 enrolment + 1 deletion by another process "
        f"{1000 * (t5 - t4):.1f} ms; db {((tmp / 'faces.db').stat().st_size) / 1e6:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs (the 1:N search still runs at 1M)")
    ap.add_argument("--search", action="store_true", help="only the 1:N search and store sections")
    ap.add_argument(
        "--engine", action="store_true", help="only detection, parity, accuracy and latency (no 1:N search)"
    )
    args = ap.parse_args()
    runs = 5 if args.quick else 20
    if args.search:
        rows = search_scale([1_000, 10_000, 100_000, 1_000_000], max(runs, 40))
        store_load(20_000 if args.quick else 100_000)
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for title, a, b, note in rows:
            print(f"  {title:52s} {a:8.2f} ms   baseline {b:8.2f} ms   ratio {a / b:5.2f}   ({note})")
        return
    cache = Path(tempfile.mkdtemp()) / "models"
    t0 = time.perf_counter()
    eng.FaceEngine(cache_dir=cache)  # first use: converts dlib's .dat to ONNX
    t1 = time.perf_counter()
    ours = eng.FaceEngine(cache_dir=cache)
    t2 = time.perf_counter()
    print(
        f"model load: first use (ONNX conversion) {t1 - t0:.2f} s, cached {t2 - t1:.2f} s "
        f"(descriptor {ours.descriptor_status}; detector {ours.detector_status}); RSS {rss_mb():.0f} MB"
    )
    # Same-run baselines: the last round's engine (HOG with its bordered retry, ONNX descriptor)
    # and the original one (HOG, dlib's own descriptor).
    before = eng.FaceEngine(cache_dir=cache, detector="hog")
    baseline = eng.FaceEngine(cache_dir=None, detector="hog")
    print(f"same-run baselines: 'hog' = HOG + {before.descriptor_status}; 'dlib' = HOG + {baseline.descriptor_status}")
    rows: list[tuple[str, float, float, str]] = []
    recall = ""
    if (FACES / "labelled").is_dir():
        gap = parity(FACES, ours, baseline)
        by_set = detection_recall(FACES, ours, with_mmod=not args.quick)
        box_maps(FACES, ours)
        detector_descriptors(FACES, ours)
        now, hog = by_set["MTCNN, else HOG + retry (identify)"], by_set["HOG + bordered retry (before)"]
        (a, n, xa), (b, _, xb) = ([sum(v[i] for v in d.values()) for i in range(3)] for d in (now, hog))
        drops = [k for k in now if now[k][0] < hog[k][0]]
        verdict = "no set dropped" if not drops else f"DROPPED on {', '.join(drops)}"
        recall = f"{a}/{n} (+{xa} extra boxes) vs HOG + retry {b}/{n} (+{xb}); {verdict}"
        print("identification as served (IndexFaces and SearchFacesByImage: MTCNN, HOG when it finds nothing):")
        accuracy(FACES, ours)
        print("the same, faces enrolled before MTCNN (HOG) and searched now (MTCNN):")
        accuracy(FACES, ours, enrol="hog")
        print("the same run, HOG alone (before):")
        accuracy(FACES, ours, enrol="hog", probe="hog")
        lat = latency(FACES, runs, {"now": ours, "hog": before, "dlib": baseline})
        for case, stage, title, target in (
            ("1 face @640x480", "api", "1 face @640x480 SearchFacesByImage end to end", 35.0),
            ("6 faces @640x480", "total", "6 faces @640x480 all faces end to end", 120.0),
        ):
            a_ms = statistics.median(lat[(case, "now")][stage]) * 1000
            b_ms = statistics.median(lat[(case, "dlib")][stage]) * 1000
            h_ms = statistics.median(lat[(case, "hog")][stage]) * 1000
            det = statistics.median(lat[(case, "now")]["detect"]) * 1000
            det_h = statistics.median(lat[(case, "hog")]["detect"]) * 1000
            emb = statistics.median(lat[(case, "now")]["embed"]) * 1000
            cpu_stage = "cpu api" if stage == "api" else "cpu total"
            ca = statistics.median(lat[(case, "now")][cpu_stage]) * 1000
            cb = statistics.median(lat[(case, "dlib")][cpu_stage]) * 1000
            met = "met" if a_ms <= target else "NOT met"
            rows.append(
                (
                    title,
                    a_ms,
                    b_ms,
                    f"target <= {target:.0f} ms: {met}; HOG engine (before) {h_ms:.1f} ms, ratio {a_ms / h_ms:.2f}; "
                    f"detect {det:.1f} vs HOG {det_h:.1f} ms; embed {emb:.1f} ms; CPU time {ca:.1f} vs {cb:.1f} ms",
                )
            )
        print(f"peak RSS while serving (three engines + collections): {rss_mb():.0f} MB")
    else:
        gap = float("nan")
        print(f"SKIPPED parity, recall, accuracy and latency: {FACES} not found")
    if not args.engine:
        rows += search_scale([1_000, 10_000, 100_000, 1_000_000], max(runs, 20))
        store_load(20_000 if args.quick else 100_000)
    print(f"peak RSS of the whole benchmark (1M synthetic vectors included): {rss_mb():.0f} MB")
    print()
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times scale with it)")
    print("issue 15 figures (p50; baseline = same run: HOG + dlib's descriptor / exact float32 search):")
    for title, a, b, note in rows:
        print(f"  {title:52s} {a:8.2f} ms   baseline {b:8.2f} ms   ratio {a / b:5.2f}   ({note})")
    print(f"  {'descriptor parity, max L2 ONNX vs dlib':52s} {gap:.2e}   (< 1e-3)")
    if recall:
        print(f"  {'detection recall, shared photos + crops (engine)':52s} {recall}")


if __name__ == "__main__":
    main()
