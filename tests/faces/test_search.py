"""1:N search: the fast path for large collections answers exactly what a full scan answers."""

from __future__ import annotations

import numpy as np
import pytest

from core.faces import search
from core.faces.search import SearchMatrix, exact_nearest, nearest

pytest.importorskip("faiss", reason="faiss-cpu is in requirements.txt; without it only the exact scan runs")


def _matrix(vectors: np.ndarray) -> SearchMatrix:
    return SearchMatrix(0, [f"f{i}" for i in range(len(vectors))], vectors, np.einsum("ij,ij->i", vectors, vectors))


def _exact(m, q, k):
    idx, d2 = exact_nearest(m, q, k)
    return [(m.face_ids[i], float(np.sqrt(max(v, 0.0)))) for i, v in zip(idx, d2)]


@pytest.fixture(scope="module")
def clustered() -> tuple[SearchMatrix, np.ndarray]:
    """60k descriptors shaped like faces: 6k people x 10 photos (same person ~0.35 apart,
    different people ~0.85), so the coarse path is taken and near-ties exist."""
    rng = np.random.default_rng(3)
    people = rng.normal(0, 0.053, (6_000, 128)).astype(np.float32)
    vectors = np.repeat(people, 10, axis=0) + rng.normal(0, 0.022, (60_000, 128)).astype(np.float32)
    return _matrix(vectors.astype(np.float32)), people


def test_large_collection_matches_the_exact_scan(clustered, monkeypatch):
    m, people = clustered
    assert len(m.face_ids) >= search.COARSE_MIN_FACES
    rng = np.random.default_rng(4)
    for i in rng.integers(0, len(people), 40):
        q = people[i] + rng.normal(0, 0.022, 128).astype(np.float32)
        got = nearest(m, q, 10)
        want = _exact(m, q, 10)
        assert [f for f, _ in got] == [f for f, _ in want]
        assert np.allclose([d for _, d in got], [d for _, d in want], atol=1e-5)
    assert m.coarse() is not None  # the 8-bit path really ran


def test_unknown_probes_and_radius(clustered):
    m, _ = clustered
    rng = np.random.default_rng(5)
    for _ in range(10):
        q = rng.normal(0, 0.053, 128).astype(np.float32)  # nobody enrolled
        within = [(f, d) for f, d in nearest(m, q, 5, max_distance=0.58) if d <= 0.58]
        assert within == [(f, d) for f, d in _exact(m, q, 5) if d <= 0.58]
        assert [f for f, _ in nearest(m, q, 5)] == [f for f, _ in _exact(m, q, 5)]


def test_unprovable_answers_fall_back_to_the_exact_scan(clustered, monkeypatch):
    m, people = clustered
    q = people[0]
    coarse = m.coarse()
    monkeypatch.setattr(coarse, "max_error", 10.0)  # no candidate set can prove anything now
    calls = []
    real = search.exact_nearest
    monkeypatch.setattr(search, "exact_nearest", lambda *a: calls.append(1) or real(*a))
    assert [f for f, _ in nearest(m, q, 3)] == [f for f, _ in _exact(m, q, 3)]
    assert calls, "the exact scan must have run"


def test_small_and_empty_collections():
    assert nearest(_matrix(np.zeros((0, 128), np.float32)), np.zeros(128, np.float32), 5) == []
    v = np.eye(128, dtype=np.float32)[:3]
    got = nearest(_matrix(v), v[1], 10)
    assert [f for f, _ in got][0] == "f1" and len(got) == 3
