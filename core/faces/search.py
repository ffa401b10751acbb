"""1:N search over a collection's descriptors.

One float32 matrix-vector product with precomputed squared norms (memory-bound: ~3.6 ms at
100k faces, ~38 ms at 1M on this machine). An 8-bit first pass (faiss ``IndexScalarQuantizer``,
a quarter of the bytes) with float32 re-ranking was measured and not kept: on two cores its
decode-and-compare costs about what the float32 scan's memory traffic costs (0.85-1.1x the
exact scan's time at 100k-1M, docs/faces.md). Graph indexes (HNSW) answer in well under a
millisecond but only approximately, take minutes to build at 1M faces here, and would have to
be persisted and kept in step with deletions across processes: not done yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SearchMatrix:
    """A collection snapshot: ids, float32 vectors (truth) and their squared norms."""

    generation: int
    face_ids: list[str]
    vectors: np.ndarray  # (N, 128) float32
    sqnorms: np.ndarray  # (N,) float32


def exact_nearest(m: SearchMatrix, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, squared distances) of the k nearest, nearest first, by a full float32 scan."""
    n = len(m.face_ids)
    d2 = m.sqnorms - 2.0 * (m.vectors @ q) + float(q @ q)
    k = min(k, n)
    idx = np.argpartition(d2, k - 1)[:k] if k < n else np.arange(n)
    idx = idx[np.argsort(d2[idx], kind="stable")]
    return idx, d2[idx]


def nearest(m: SearchMatrix, probe: np.ndarray, k: int, max_distance: float | None = None) -> list[tuple[str, float]]:
    """The k nearest faces as (face_id, L2 distance), nearest first. ``max_distance``
    (optional) says farther faces are not wanted: they are left out."""
    if len(m.face_ids) == 0 or k <= 0:
        return []
    idx, d2 = exact_nearest(m, np.asarray(probe, dtype=np.float32), k)
    hits = [(m.face_ids[i], float(np.sqrt(max(float(v), 0.0)))) for i, v in zip(idx, d2)]
    return hits if max_distance is None else [(f, d) for f, d in hits if d <= max_distance]
