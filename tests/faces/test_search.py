"""1:N search ranks exactly as a full float32 scan; the radius only drops farther faces."""

from __future__ import annotations

import numpy as np

from core.faces.search import SearchMatrix, nearest


def _matrix(vectors: np.ndarray) -> SearchMatrix:
    return SearchMatrix(0, [f"f{i}" for i in range(len(vectors))], vectors, np.einsum("ij,ij->i", vectors, vectors))


def test_ranks_like_a_full_scan_and_respects_the_radius():
    rng = np.random.default_rng(3)
    vectors = rng.normal(0, 0.053, (5_000, 128)).astype(np.float32)
    m = _matrix(vectors)
    q = vectors[42] + rng.normal(0, 0.02, 128).astype(np.float32)
    want = np.argsort(np.linalg.norm(vectors - q, axis=1))[:10]
    got = nearest(m, q, 10)
    assert [f for f, _ in got] == [f"f{i}" for i in want]
    assert np.allclose([d for _, d in got], np.linalg.norm(vectors[want] - q, axis=1), atol=1e-5)
    near = nearest(m, q, 10, max_distance=0.4)
    assert near == [(f, d) for f, d in got if d <= 0.4] and near[0][0] == "f42"


def test_small_and_empty_collections():
    assert nearest(_matrix(np.zeros((0, 128), np.float32)), np.zeros(128, np.float32), 5) == []
    v = np.eye(128, dtype=np.float32)[:3]
    got = nearest(_matrix(v), v[1], 10)
    assert [f for f, _ in got][0] == "f1" and len(got) == 3
