"""Face engine benchmark: accuracy on ../shared/data/faces, latency per stage, 1:N search
scale, model load and memory. Prints figures; asserts nothing.

    .venv/bin/python bench/faces.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import itertools
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
from core.faces.local import SIMILARITY_MIDPOINT, LocalFaceCollections, similarity_from_distance  # noqa: E402
from core.faces.store import _Matrix, nearest  # noqa: E402
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


def accuracy(faces_root: Path) -> None:
    people = {p.name: sorted(p.glob("*.png")) for p in sorted((faces_root / "labelled").iterdir())}
    e = eng.get_engine()
    vec = {}
    for person, paths in people.items():
        for p in paths:
            w = e.work_image(decode_image(p.read_bytes()))
            f = e.detect(w)
            vec[p] = (person, e.descriptor(w, f[0]) if f else None)
    missing = [p for p, (_, v) in vec.items() if v is None]
    print(f"detected a face in {len(vec) - len(missing)}/{len(vec)} labelled crops")
    # Closed set: enrol image 1 of everyone, identify the rest (top-1 and accepted at 80).
    gallery = {person: vec[paths[0]][1] for person, paths in people.items()}
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
    # Verification over all pairs.
    same, diff = [], []
    for (_, (pa, va)), (_, (pb, vb)) in itertools.combinations(vec.items(), 2):
        (same if pa == pb else diff).append(similarity_from_distance(float(np.linalg.norm(va - vb))))
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


def latency(faces_root: Path, runs: int) -> None:
    e = eng.get_engine()
    people = sorted((faces_root / "labelled").iterdir())
    one = [sorted(people[0].glob("*.png"))[0]]
    six = [sorted(p.glob("*.png"))[1] for p in people] + [sorted(people[0].glob("*.png"))[2]]
    tmp = Path(tempfile.mkdtemp())
    faces = LocalFaceCollections(tmp)
    faces.create_collection(CollectionId="bench")
    for p in people:
        faces.index_faces(
            CollectionId="bench", Image={"Bytes": sorted(p.glob("*.png"))[0].read_bytes()}, ExternalImageId=p.name
        )
    m = faces.store.matrix("bench")
    cases = [
        ("1 face", one, (640, 480), 200),
        ("1 face", one, (1280, 720), 300),
        ("6 faces", six, (640, 480), 150),
        ("6 faces", six, (1280, 720), 200),
    ]
    for label, paths, size, px in cases:
        data = scene(paths, size, px)
        t = {k: [] for k in ("decode", "detect", "align", "embed", "search", "total", "api")}
        found = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            img = decode_image(data)
            work = e.work_image(img)
            t1 = time.perf_counter()
            st: dict = {}
            fs = e.detect(work, thorough=len(paths) > 1, timings=st)
            t2 = time.perf_counter()
            vecs = [e.descriptor(work, f) for f in fs]
            t3 = time.perf_counter()
            for v in vecs:
                nearest(m, v, 10)
            t4 = time.perf_counter()
            found = len(fs)
            t["decode"].append(t1 - t0)
            t["detect"].append(st.get("detect", 0.0))
            t["align"].append(st.get("align", 0.0))
            t["embed"].append(t3 - t2)
            t["search"].append(t4 - t3)
            t["total"].append(t4 - t0)
            a0 = time.perf_counter()
            faces.search_faces_by_image(CollectionId="bench", Image={"Bytes": data})
            t["api"].append(time.perf_counter() - a0)
        print(f"{label} @{size[0]}x{size[1]} ({found} found, {runs} runs):")
        for k, v in t.items():
            name = {"total": "all faces end to end", "api": "SearchFacesByImage (largest face)"}.get(k, k)
            print(f"  {name:34s} {stats(v)}")
    # Baseline in the same run: what a face_recognition-style call does (full resolution,
    # HOG upsampled once, every face embedded).
    data = scene(one, (640, 480), 200)
    base = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rgb = decode_image(data).rgb
        rects = e._detector(rgb, 1)
        for r in rects:
            e._encoder.compute_face_descriptor(rgb, e._sp5(rgb, r), 0)
        base.append(time.perf_counter() - t0)
    ours = []
    for _ in range(runs):
        t0 = time.perf_counter()
        faces.search_faces_by_image(CollectionId="bench", Image={"Bytes": data})
        ours.append(time.perf_counter() - t0)
    print(
        f"baseline (upsample 1, full res) 1 face @640x480: {stats(base)}; "
        f"ours/baseline = {statistics.median(ours) / statistics.median(base):.2f}"
    )


def search_scale(sizes: list[int], runs: int) -> None:
    rng = np.random.default_rng(1)
    print("1:N search over synthetic 128-d vectors (top 10):")
    for n in sizes:
        vectors = rng.normal(0, 0.09, (n, 128)).astype(np.float32)
        m = _Matrix(0, [str(i) for i in range(n)], vectors, np.einsum("ij,ij->i", vectors, vectors))
        q = vectors[n // 2] + rng.normal(0, 0.02, 128).astype(np.float32)
        ours, naive = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            hit = nearest(m, q, 10)
            ours.append(time.perf_counter() - t0)
        for _ in range(max(3, runs // 3)):
            t0 = time.perf_counter()
            np.argsort(np.linalg.norm(vectors - q, axis=1))[:10]
            naive.append(time.perf_counter() - t0)
        assert hit[0][0] == str(n // 2)
        print(
            f"  {n:>9,} faces: {stats(ours)}   naive norm+argsort p50 {statistics.median(naive) * 1000:7.1f} ms"
            f"   speed-up x{statistics.median(naive) / statistics.median(ours):.1f}   RSS peak {rss_mb():.0f} MB"
        )
        del vectors, m


def store_load(n: int) -> None:
    """Time to (re)load a collection's matrix from SQLite after another process wrote it."""
    from core.faces.store import FaceStore, StoredFace

    tmp = Path(tempfile.mkdtemp())
    store = FaceStore(tmp / "faces.db")
    store.create_collection("big")
    rng = np.random.default_rng(2)
    batch = 10_000
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        store.add_faces(
            "big",
            [
                (
                    StoredFace(f"{i:08x}-0000-0000-0000-000000000000", "p", "img", {}, 99.0, 0.0),
                    rng.normal(0, 0.09, 128).astype(np.float32),
                )
                for i in range(start, start + batch)
            ],
        )
    t1 = time.perf_counter()
    store._cache.clear()
    store.matrix("big")
    t2 = time.perf_counter()
    store.matrix("big")
    t3 = time.perf_counter()
    print(
        f"store: {n:,} faces inserted in {t1 - t0:.1f} s; matrix load {1000 * (t2 - t1):.0f} ms; "
        f"cached check {1000 * (t3 - t2):.2f} ms; db {((tmp / 'faces.db').stat().st_size) / 1e6:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs, no 1M search")
    args = ap.parse_args()
    runs = 5 if args.quick else 20
    t0 = time.perf_counter()
    eng.get_engine()
    print(f"model load: {time.perf_counter() - t0:.2f} s; RSS after load {rss_mb():.0f} MB")
    if (FACES / "labelled").is_dir():
        accuracy(FACES)
        latency(FACES, runs)
        print(f"peak RSS while serving (engine + one collection): {rss_mb():.0f} MB")
    else:
        print(f"SKIPPED accuracy and latency: {FACES} not found")
    search_scale([1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000]), runs)
    store_load(20_000 if args.quick else 100_000)
    print(f"peak RSS of the whole benchmark (1M synthetic vectors included): {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
