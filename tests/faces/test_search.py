"""1:N search ranks exactly as a full float32 scan (with or without the int8 first pass); the
radius only drops farther faces; the index follows enrolments and deletions, in this process
and in another."""

from __future__ import annotations

import numpy as np
import pytest

from core.faces import quantised, search
from core.faces.search import SearchIndex, exact_nearest
from core.faces.store import FaceStore, StoredFace
from core.faces.synthetic import Population

needs_ort = pytest.mark.skipif(not quantised.available(), reason="numkong not installed: no int8 pass")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 1,024 rows so that a few thousand faces exercise every path quickly."""
    monkeypatch.setattr(search, "BLOCK_ROWS", 1024)
    monkeypatch.setattr(search, "QUANTISE_FROM", 2048)


def _index(vectors: np.ndarray, quantise: bool | None = None, first_seq: int = 1) -> SearchIndex:
    index = SearchIndex(quantise=quantise)
    index.append(np.arange(first_seq, first_seq + len(vectors)), [f"f{i}" for i in range(len(vectors))], vectors)
    return index


def _exact_ids(vectors: np.ndarray, q: np.ndarray, k: int, alive=None) -> tuple[list[str], np.ndarray]:
    rows = np.arange(len(vectors)) if alive is None else np.flatnonzero(alive)
    idx, d2 = exact_nearest(vectors[rows], q, k)
    return [f"f{rows[i]}" for i in idx], np.sqrt(np.maximum(d2, 0))


def _same(got, want_ids, want_d):
    """Same faces in the same order, same distances up to float32 rounding (compared squared:
    a probe's own face is ~1e-6 from 0 squared, which sqrt turns into 1e-3)."""
    assert [f for f, _ in got] == want_ids
    assert np.allclose(np.square([d for _, d in got]), np.square(want_d), atol=1e-5)


def test_ranks_like_a_full_scan_and_respects_the_radius():
    rng = np.random.default_rng(3)
    vectors = rng.normal(0, 0.053, (5_000, 128)).astype(np.float32)
    index = _index(vectors)
    q = vectors[42] + rng.normal(0, 0.02, 128).astype(np.float32)
    want = np.argsort(np.linalg.norm(vectors - q, axis=1))[:10]
    got = index.nearest(q, 10)
    assert [f for f, _ in got] == [f"f{i}" for i in want]
    assert np.allclose([d for _, d in got], np.linalg.norm(vectors[want] - q, axis=1), atol=1e-5)
    near = index.nearest(q, 10, max_distance=0.4)
    assert near == [(f, d) for f, d in got if d <= 0.4] and near[0][0] == "f42"


def test_small_and_empty_collections():
    assert SearchIndex().nearest(np.zeros(128, np.float32), 5) == []
    v = np.eye(128, dtype=np.float32)[:3]
    got = _index(v).nearest(v[1], 10)
    assert [f for f, _ in got][0] == "f1" and len(got) == 3


@needs_ort
def test_int8_first_pass_answers_what_the_exact_scan_answers(small_blocks):
    """Realistic descriptors (synthetic.Population), known probes (a stored face plus 0.3-0.5 of
    noise) and unknown ones: top-1 and the whole top-10 equal the exact scan's."""
    rng = np.random.default_rng(11)
    pop = Population(seed=5)
    gallery = pop.photos(6_000, rng)
    index = _index(gallery)
    assert index.quantised_rows == 5 * 1024  # five blocks, the rest scanned exactly
    probes, rows = pop.probes(gallery, 60, 30, rng)
    for q, row in zip(probes, rows):
        want_ids, want_d = _exact_ids(gallery, q, 10)
        _same(index.nearest(q, 10), want_ids, want_d)
        if row >= 0:
            assert want_ids[0] == f"f{row}"
        radius = 0.58
        _same(
            index.nearest(q, 10, radius), [f for f, d in zip(want_ids, want_d) if d <= radius], want_d[want_d <= radius]
        )
        assert index.nearest(q, 1)[0][0] == want_ids[0]


@needs_ort
def test_int8_first_pass_on_random_vectors_answers_what_the_exact_scan_answers(small_blocks):
    """Structureless random vectors (isotropic, unit-ish and small scales, a few far outliers
    that the grid clips): top 10 equals the exact scan's, with and without a radius."""
    rng = np.random.default_rng(20)
    for scale in (0.053, 1.0):
        vectors = rng.normal(0, scale, (4_500, 128)).astype(np.float32)
        vectors[rng.choice(np.arange(2_500, 4_096), 5, replace=False)] *= 4  # in blocks cut after the fit
        index = _index(vectors[:2_500])  # the grid is fitted here
        index.append(np.arange(2_501, 4_501), [f"f{i}" for i in range(2_500, 4_500)], vectors[2_500:])
        assert index.quantised_rows == 4 * 1024
        assert max(b.max_residual for b in index._view.blocks[2:]) > 10 * index._view.blocks[0].max_residual
        near = vectors[rng.choice(4_500, 15)] + rng.normal(0, scale / 3, (15, 128)).astype(np.float32)
        for q in np.concatenate([near, rng.normal(0, scale, (15, 128)).astype(np.float32)]):
            want_ids, want_d = _exact_ids(vectors, q, 10)
            _same(index.nearest(q, 10), want_ids, want_d)
            radius = float(want_d[4] + want_d[5]) / 2  # between the 5th and the 6th
            _same(index.nearest(q, 10, radius), want_ids[:5], want_d[:5])


@needs_ort
def test_faces_the_grid_cannot_order_are_re_ranked_exactly(small_blocks):
    """Faces all 0.500-0.508 from the probe, 2e-6 apart (far below the int8 grid's error): the
    first pass cannot order them, so the bound must send every one that may be in the answer to the
    float32 re-ranking, and the answer must still be the exact one."""
    rng = np.random.default_rng(12)
    pop = Population(seed=6)
    q = pop.photos(1, rng)[0]
    directions = pop.noise(4_096, rng, 1.0)
    radii = 0.5 + 2e-6 * rng.permutation(4_096)
    gallery = (q + directions * radii[:, None]).astype(np.float32)
    index = _index(gallery)
    for k in (1, 3):
        want_ids, want_d = _exact_ids(gallery, q, k)
        _same(index.nearest(q, k), want_ids, want_d)
    assert index.reranked_rows >= 2 * 4_096  # all of them, both times
    # Ordinary probes on ordinary faces re-rank a few hundred rows, not the collection.
    gallery = pop.photos(8_192, rng)
    index = _index(gallery)
    for q in pop.probes(gallery, 10, 10, rng)[0]:
        _same(index.nearest(q, 10), *_exact_ids(gallery, q, 10))
    assert index.two_pass_searches == 20 and index.reranked_rows < 20 * 8_192 / 4


@needs_ort
def test_the_grid_error_bound_holds_on_every_row(small_blocks):
    """What the proof rests on: for every row, |true distance - grid distance| <= the block's
    error (|r| max + |r_q|), including faces clipped by the grid (enrolled after it was fitted)."""
    rng = np.random.default_rng(18)
    pop = Population(seed=11)
    gallery = pop.photos(2_048, rng)
    gallery[-50:] *= 1.8  # far outside the fitted range: clipped codes, large residuals
    quantiser = quantised.Quantiser.fit(gallery[:-50])
    block = quantised.Block(quantiser, gallery, np.ones(len(gallery), bool))
    for q in np.concatenate([pop.probes(gallery, 20, 20, rng)[0], gallery[-3:] * 1.2]):
        probe_codes, probe_residual = quantiser.probe(q)
        grid = block.grid_distances(probe_codes) * quantiser.step
        true = np.linalg.norm(gallery.astype(np.float64) - q, axis=1)
        assert np.all(np.abs(true - grid) <= block.max_residual + probe_residual + quantised.ROUNDING)


@needs_ort
def test_duplicates_and_ties_stay_exact(small_blocks):
    """Many faces at the same distance (the same photo enrolled again and again)."""
    rng = np.random.default_rng(13)
    pop = Population(seed=7)
    gallery = pop.photos(3_000, rng)
    gallery[100:400] = gallery[100]
    index = _index(gallery)
    got = index.nearest(gallery[100], 50)
    assert {f for f, _ in got} <= {f"f{i}" for i in range(100, 400)}
    assert all(d < 1e-3 for _, d in got) and len(got) == 50


@pytest.mark.parametrize("quantise", [True, False])
def test_enrol_and_delete_keep_the_index_in_step(small_blocks, quantise):
    if quantise and not quantised.available():
        pytest.skip("numkong not installed: no int8 pass")
    rng = np.random.default_rng(14)
    pop = Population(seed=8)
    gallery = pop.photos(5_000, rng)
    alive = np.ones(len(gallery), bool)
    index = SearchIndex(quantise=quantise)
    # Enrol in uneven batches: blocks are cut as rows arrive.
    start = 0
    for size in (1, 700, 1500, 3, 1800, 996):
        index.append(
            np.arange(start + 1, start + size + 1),
            [f"f{i}" for i in range(start, start + size)],
            gallery[start : start + size],
        )
        start += size
    assert start == len(gallery) and len(index) == len(gallery)
    assert index.quantised_rows == (4 * 1024 if quantise else 0)
    probes, _rows = pop.probes(gallery, 20, 5, rng)
    # Delete the current best match of some probes, inside blocks and in the tail.
    victims = {0, 1500, 4095, 4999} | {int(_exact_ids(gallery, q, 1)[0][0][1:]) for q in probes[:8]}
    assert index.remove([v + 1 for v in victims] + [10**9]) == len(victims)  # unknown seqs ignored
    assert index.remove([next(iter(victims)) + 1]) == 0  # already gone
    alive[list(victims)] = False
    assert len(index) == alive.sum()
    for q in probes:
        want_ids, want_d = _exact_ids(gallery, q, 10, alive)
        got = index.nearest(q, 10)
        _same(got, want_ids, want_d)
        assert not {f for f, _ in got} & {f"f{v}" for v in victims}
    # The deleted vectors are gone from memory: zero in float32; in the blocks their codes are
    # the far corner (the same for every deleted face), never a candidate.
    view = index._view
    assert not view.vectors[sorted(victims)].any()
    corner = np.full((1, 128), quantised.DEAD_CODE, np.int8)
    for v in victims:
        if v < index.quantised_rows:
            block = view.blocks[v // search.BLOCK_ROWS]
            assert block.grid_distances(corner)[v % search.BLOCK_ROWS] == 0.0
    # Enrol after deleting: new faces are found.
    extra = pop.photos(3, rng)
    index.append([10_001, 10_002, 10_003], ["n0", "n1", "n2"], extra)
    assert index.nearest(extra[1], 1)[0][0] == "n1"


@needs_ort
def test_deleting_a_quarter_compacts_and_stays_exact(small_blocks):
    rng = np.random.default_rng(15)
    pop = Population(seed=9)
    gallery = pop.photos(4_500, rng)
    index = _index(gallery)
    gone = rng.choice(len(gallery), 1_300, replace=False)
    index.remove(gone + 1)
    alive = np.ones(len(gallery), bool)
    alive[gone] = False
    assert index._view.rows == alive.sum()  # compacted: deleted rows dropped
    assert index.quantised_rows == 3 * 1024
    for q in pop.probes(gallery, 10, 5, rng)[0]:
        _same(index.nearest(q, 10), *_exact_ids(gallery, q, 10, alive))


def test_a_searcher_in_another_process_catches_up_without_reloading(tmp_path, small_blocks):
    """Two FaceStores on one database stand for two processes: the reader applies the writer's
    enrolments and deletions to the index it has (the same object), and answers like a fresh load."""
    rng = np.random.default_rng(16)
    pop = Population(seed=10)
    writer, reader = FaceStore(tmp_path / "faces.db"), FaceStore(tmp_path / "faces.db")
    writer.create_collection("c")

    stored = {}

    def enrol(vectors):
        faces = [(StoredFace(f"{rng.integers(1 << 62):032x}", None, "img", {}, 99.0, 0.0), v) for v in vectors]
        writer.add_faces("c", faces)
        stored.update((f.face_id, v) for f, v in faces)
        return [f.face_id for f, _ in faces]

    ids = enrol(pop.photos(3_000, rng))
    index = reader.search_index("c")
    assert len(index) == 3_000
    ids += enrol(pop.photos(500, rng))
    gone = ids[10:20] + ids[2_990:3_010]
    assert len(writer.delete_faces("c", gone)) == 30
    later = enrol(pop.photos(5, rng))
    writer.delete_faces("c", later[:2])  # added and deleted between two looks
    assert reader.search_index("c") is index and len(index) == 3_500 - 30 + 3
    fresh = FaceStore(tmp_path / "faces.db").search_index("c")
    assert fresh is not index
    assert index.quantised_rows == fresh.quantised_rows == 3 * 1024  # the int8 pass is in use
    live = [f for f in stored if f not in set(gone + later[:2])]
    vectors = np.asarray([stored[f] for f in live], np.float32)
    known = vectors[::500]
    for q in np.concatenate([pop.photos(10, rng), known + pop.noise(len(known), rng, 0.4)]):
        got = index.nearest(q, 10)
        reloaded = fresh.nearest(q, 10)  # caught up = restarted (reloaded from SQLite)
        _same(got, [f for f, _ in reloaded], [d for _, d in reloaded])
        rows, d2 = exact_nearest(vectors, q, 10)
        _same(got, [live[r] for r in rows], np.sqrt(np.maximum(d2, 0)))  # = the exact scan of the store's faces
    assert not set(index.face_ids) & set(gone + later[:2])


def test_a_recreated_collection_is_reloaded(tmp_path):
    store, other = FaceStore(tmp_path / "faces.db"), FaceStore(tmp_path / "faces.db")
    store.create_collection("c")
    v = np.eye(128, dtype=np.float32)[:2]
    store.add_faces("c", [(StoredFace("a" * 32, None, "i", {}, 99.0, 0.0), v[0])])
    assert other.search_index("c").face_ids == ["a" * 32]
    store.delete_collection("c")
    store.create_collection("c")  # same name, same generation count
    store.add_faces("c", [(StoredFace("b" * 32, None, "i", {}, 99.0, 0.0), v[1])])
    assert other.search_index("c").face_ids == ["b" * 32]


def test_synthetic_descriptors_look_like_dlibs():
    """The benchmark's stand-in keeps the measured distances (docs/faces.md)."""
    rng = np.random.default_rng(17)
    pop = Population()
    people = pop.people(2_000, rng)
    a, b = people + pop.noise(2_000, rng), people + pop.noise(2_000, rng)
    genuine = np.linalg.norm(a - b, axis=1)
    impostor = np.linalg.norm(a[:1000] - a[1000:], axis=1)
    assert 0.42 < genuine.mean() < 0.50
    assert 0.80 < impostor.mean() < 0.90 and 0.06 < impostor.std() < 0.10
    assert 1.3 < np.linalg.norm(a, axis=1).mean() < 1.6


def test_an_index_older_than_the_deletion_log_is_reloaded(tmp_path, monkeypatch):
    """The log keeps the last DELETION_LOG_GENERATIONS generations; a searcher that fell
    further behind cannot apply the deletions it missed, sees that, and reloads."""
    from core.faces import store as store_module

    monkeypatch.setattr(store_module, "DELETION_LOG_GENERATIONS", 2)
    writer, reader = FaceStore(tmp_path / "faces.db"), FaceStore(tmp_path / "faces.db")
    writer.create_collection("c")
    v = np.eye(128, dtype=np.float32)
    ids = [f"{i:032x}" for i in range(6)]
    writer.add_faces("c", [(StoredFace(f, None, "i", {}, 99.0, 0.0), v[i]) for i, f in enumerate(ids)])
    old = reader.search_index("c")
    for f in ids[:4]:  # four generations of deletions: the first two leave the log
        writer.delete_faces("c", [f])
    with writer._conn() as con:
        assert con.execute("SELECT COUNT(*) FROM face_deletions").fetchone()[0] == 2
    fresh = reader.search_index("c")
    assert fresh is not old and sorted(fresh.face_ids) == ids[4:]
    assert [f for f, _ in fresh.nearest(v[0], 10)] == [
        f for f, _ in FaceStore(tmp_path / "faces.db").search_index("c").nearest(v[0], 10)
    ]


@needs_ort
def test_real_descriptors_rank_like_a_full_scan(small_blocks, labelled, tmp_path_factory):
    """dlib descriptors of the shared labelled faces, enrolled among synthetic strangers (in
    blocks and in the tail), probed with every real face and with a photo's descriptor moved
    0.1-0.3 towards nobody in particular: the whole top 10 equals the exact scan's."""
    from core.faces import engine as eng
    from core.images.codec import decode_image

    engine = eng.get_engine(tmp_path_factory.mktemp("data"))
    real = []
    for paths in labelled.values():
        for p in paths:
            work = engine.work_image(decode_image(p.read_bytes()))
            found = engine.detect(work)
            if found:
                real.append(engine.descriptor(work, found[0]))
    real = np.asarray(real, np.float32)
    assert len(real) >= 20  # HOG finds most of the 43 crops
    rng = np.random.default_rng(19)
    pop = Population(seed=12)
    gallery = pop.photos(3_000, rng)
    where = np.sort(rng.choice(len(gallery), len(real), replace=False))
    where[-3:] = len(gallery) - 3 + np.arange(3)  # some in the tail (not yet in a block)
    gallery[where] = real
    index = _index(gallery)
    assert index.quantised_rows == 2 * 1024
    probes = np.concatenate([real, real + pop.noise(len(real), rng, rng.uniform(0.1, 0.3, len(real)))])
    for q in probes:
        want_ids, want_d = _exact_ids(gallery, q, 10)
        _same(index.nearest(q, 10), want_ids, want_d)
