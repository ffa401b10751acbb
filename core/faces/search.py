"""1:N search over a collection's descriptors, answering exactly what a full float32 scan
answers.

Small collections are one float32 matrix-vector product with precomputed squared norms
(memory-bound: ~3.6 ms at 100k faces, ~38 ms at 1M on this machine when quiet). From
``QUANTISE_FROM`` faces on, rows are also cut into blocks of ``BLOCK_ROWS`` kept as int8 codes
(``core.faces.quantised``: NumKong's SIMD kernels, a quarter of the bytes, both cores). A search
computes every blocked row's int8 grid distance, then re-ranks in float32 only the rows whose
grid distance, less the grid's proven error, can still beat the k-th best: nothing left out can
be in the answer, so it equals the full scan's (``_two_pass``). Rows not yet in a block (the
newest faces) are always scanned exactly. Figures and the alternatives measured (onnxruntime,
faiss, usearch exact and HNSW): docs/faces.md.

The float32 vectors stay the truth (SQLite holds them; ``core.faces.store`` keeps this index in
step with enrolments and deletions without reloading it).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from core.faces import quantised

DIM = 128
BLOCK_ROWS = 16_384
# Below this the exact scan is already ~1 ms or less: no blocks (measured, docs/benchmarks.md).
QUANTISE_FROM = 2 * BLOCK_ROWS
# Stage 1 of a two-pass search re-ranks the rows under the k-th grid distance of every
# SAMPLE_STRIDE-th row: about SAMPLE_STRIDE * k rows (a few hundred; cheap) that bound the answer.
SAMPLE_STRIDE = 32
# Compact (drop deleted rows, rebuild blocks) once this share of the rows is deleted.
COMPACT_DEAD_SHARE = 0.25
SCAN_THREADS = max(1, min(2, os.cpu_count() or 1))

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=SCAN_THREADS - 1, thread_name_prefix="face-scan")
        return _POOL


@dataclass(frozen=True)
class _View:
    """What a search reads: a consistent snapshot (writers publish a new one)."""

    rows: int  # rows in use (live and deleted) at the front of the arrays
    live: int
    ids: list  # face id per row, None where deleted
    seqs: np.ndarray  # (capacity,) int64, increasing
    vectors: np.ndarray  # (capacity, DIM) float32; deleted rows zeroed
    sqnorms: np.ndarray  # (capacity,) float32; inf where deleted
    blocks: tuple = ()  # quantised.Block for rows [i * BLOCK_ROWS, (i + 1) * BLOCK_ROWS)
    quantiser: quantised.Quantiser | None = field(default=None)


def _empty_view(capacity: int = 0) -> _View:
    return _View(
        0,
        0,
        [],
        np.zeros(capacity, np.int64),
        np.zeros((capacity, DIM), np.float32),
        np.full(capacity, np.inf, np.float32),
    )


class SearchIndex:
    """A collection's faces for 1:N search. Thread-safe: any number of searches run while one
    writer appends or removes (searches see the state before or after a write, never half)."""

    def __init__(self, generation: int = 0, created: float = 0.0, quantise: bool | None = None):
        """``quantise``: use the int8 first pass from ``QUANTISE_FROM`` faces (default: when
        numkong is importable)."""
        self.generation = generation
        self.created = created
        self.quantise = quantised.available() if quantise is None else quantise
        self._write = threading.Lock()
        self._view = _empty_view()
        # Searches that used the int8 blocks and the rows they re-ranked in float32 (for
        # benchmarks and tests: the bound's cost).
        self.two_pass_searches = 0
        self.reranked_rows = 0

    # --- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self._view.live

    @property
    def last_seq(self) -> int:
        v = self._view
        return int(v.seqs[v.rows - 1]) if v.rows else 0

    @property
    def face_ids(self) -> list[str]:
        v = self._view
        return [f for f in v.ids[: v.rows] if f is not None]

    @property
    def quantised_rows(self) -> int:
        """Rows covered by int8 blocks (the rest are scanned exactly)."""
        return len(self._view.blocks) * BLOCK_ROWS

    @property
    def code_bytes(self) -> int:
        """Bytes of the packed int8 codes alone (what the first pass adds to the float32 truth)."""
        return sum(b.nbytes for b in self._view.blocks)

    def nearest(self, probe: np.ndarray, k: int, max_distance: float | None = None) -> list[tuple[str, float]]:
        """The k nearest faces as (face_id, L2 distance), nearest first: exactly what a full
        float32 scan returns. ``max_distance`` (optional) leaves farther faces out."""
        v = self._view
        if v.live == 0 or k <= 0:
            return []
        q = np.asarray(probe, dtype=np.float32).reshape(DIM)
        k = min(k, v.live)
        limit = None if max_distance is None else float(max_distance) ** 2
        if v.blocks:
            rows, d2, reranked = _two_pass(v, q, k, limit)
            self.two_pass_searches += 1
            self.reranked_rows += reranked
        else:
            rows, d2 = _exact(v.vectors[: v.rows], v.sqnorms[: v.rows], q, k)
        hits = [(v.ids[r], float(np.sqrt(max(float(x), 0.0)))) for r, x in zip(rows, d2) if np.isfinite(x)]
        return hits if max_distance is None else [(f, d) for f, d in hits if d <= max_distance]

    # --- writing ----------------------------------------------------------------------
    def append(self, seqs, face_ids: list[str], vectors: np.ndarray) -> None:
        """Add faces (``seqs`` increasing and above ``last_seq``); cuts new int8 blocks."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        seqs = np.asarray(seqs, dtype=np.int64)
        if not len(vectors):
            return
        with self._write:
            v = self._view
            if len(seqs) != len(vectors) or len(face_ids) != len(vectors):
                raise ValueError("seqs, face_ids and vectors must have the same length")
            if (v.rows and seqs[0] <= v.seqs[v.rows - 1]) or np.any(np.diff(seqs) <= 0):
                raise ValueError("appended seqs must increase")
            rows = v.rows + len(vectors)
            if rows > len(v.seqs):  # grow by half (amortised); older views keep the old arrays
                # A quarter spare even on the first (bulk) load, so the next enrolments do not
                # copy every vector (at 1M: ~2 s). The spare float32 rows are zero pages until
                # written, so they cost address space, not memory.
                capacity = max(rows + rows // 4, len(v.seqs) * 3 // 2, 1024)
                grown = _empty_view(capacity)
                grown.seqs[: v.rows] = v.seqs[: v.rows]
                grown.vectors[: v.rows] = v.vectors[: v.rows]
                grown.sqnorms[: v.rows] = v.sqnorms[: v.rows]
                seqs_a, vecs_a, sq_a, ids = grown.seqs, grown.vectors, grown.sqnorms, list(v.ids)
            else:
                seqs_a, vecs_a, sq_a, ids = v.seqs, v.vectors, v.sqnorms, v.ids
            # Rows past v.rows are invisible to current readers, so filling them in place is safe.
            seqs_a[v.rows : rows] = seqs
            vecs_a[v.rows : rows] = vectors
            sq_a[v.rows : rows] = np.einsum("ij,ij->i", vectors, vectors)
            ids.extend(face_ids)
            self._publish(_View(rows, v.live + len(vectors), ids, seqs_a, vecs_a, sq_a, v.blocks, v.quantiser))

    def remove(self, seqs) -> int:
        """Forget the faces with these seqs (unknown seqs are ignored); their vectors are zeroed
        here and in the int8 blocks at once (biometric data). Returns how many were removed."""
        seqs = np.asarray(list(seqs), dtype=np.int64)
        with self._write:
            v = self._view
            if not len(seqs) or not v.rows:
                return 0
            pos = np.searchsorted(v.seqs[: v.rows], seqs)
            found = pos < v.rows
            pos, wanted = pos[found], seqs[found]
            pos = np.unique(pos[v.seqs[pos] == wanted])
            pos = pos[np.isfinite(v.sqnorms[pos])]
            if not len(pos):
                return 0
            # Searches holding the old view keep its distances (a copy of the norms); the
            # vectors are zeroed in place after the new view is out, so a search already
            # running can at worst see a face being deleted as farther than it was.
            sq = v.sqnorms.copy()
            sq[pos] = np.inf
            ids = list(v.ids)
            for p in pos:
                ids[p] = None
            live = v.live - len(pos)
            view = _View(v.rows, live, ids, v.seqs, v.vectors, sq, v.blocks, v.quantiser)
            self._view = view
            v.vectors[pos] = 0.0
            if v.rows >= QUANTISE_FROM and (v.rows - live) > COMPACT_DEAD_SHARE * v.rows:
                view = _compacted(view)
            elif view.blocks:
                blocks = list(view.blocks)
                for b in sorted({int(p) // BLOCK_ROWS for p in pos if p < len(blocks) * BLOCK_ROWS}):
                    blocks[b] = _block(view, b)  # its codes of the deleted rows become zeros
                view = _View(view.rows, live, ids, view.seqs, view.vectors, sq, tuple(blocks), view.quantiser)
            self._publish(view)
            return len(pos)

    def _publish(self, view: _View) -> None:
        """Cut blocks that the new rows completed, then make ``view`` what searches read."""
        if self.quantise and view.rows >= QUANTISE_FROM:
            quantiser = view.quantiser
            if quantiser is None:
                live = np.isfinite(view.sqnorms[: view.rows])
                quantiser = quantised.Quantiser.fit(view.vectors[: view.rows][live])
                view = _View(view.rows, view.live, view.ids, view.seqs, view.vectors, view.sqnorms, (), quantiser)
            blocks = list(view.blocks)
            while (len(blocks) + 1) * BLOCK_ROWS <= view.rows:
                blocks.append(_block(view, len(blocks)))
            view = _View(
                view.rows, view.live, view.ids, view.seqs, view.vectors, view.sqnorms, tuple(blocks), quantiser
            )
        self._view = view


def _block(view: _View, b: int) -> quantised.Block:
    start, stop = b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS
    assert view.quantiser is not None
    return quantised.Block(view.quantiser, view.vectors[start:stop], np.isfinite(view.sqnorms[start:stop]))


def _compacted(view: _View) -> _View:
    """The live rows only, with the blocks and quantiser to be rebuilt."""
    keep = np.flatnonzero(np.isfinite(view.sqnorms[: view.rows]))
    n = len(keep)
    fresh = _empty_view(max(n, 1024))
    fresh.seqs[:n] = view.seqs[keep]
    fresh.vectors[:n] = view.vectors[keep]
    fresh.sqnorms[:n] = view.sqnorms[keep]
    return _View(n, n, [view.ids[i] for i in keep], fresh.seqs, fresh.vectors, fresh.sqnorms)


def _exact(vectors: np.ndarray, sqnorms: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, squared distances) of the k nearest, nearest first, by a full float32 scan; ties
    go to the lower row."""
    d2 = sqnorms - 2.0 * (vectors @ q) + float(q @ q)
    k = min(k, len(d2))
    rows = np.flatnonzero(d2 <= np.partition(d2, k - 1)[k - 1]) if k < len(d2) else np.arange(len(d2))
    order = np.lexsort((rows, d2[rows]))[:k]
    return rows[order], d2[rows[order]]


def _two_pass(v: _View, q: np.ndarray, k: int, limit: float | None) -> tuple[np.ndarray, np.ndarray, int]:
    """int8 grid distances of every blocked row (both cores), then float32 distances of the rows
    that can still be in the answer. Returns (rows, squared distances, rows re-ranked).

    1. A strided sample of the grid distances gives a threshold that at least k rows meet; those
       rows and the tail (rows not yet in a block) are re-ranked exactly: the k-th of them bounds
       the answer's k-th distance from above (``cutoff``).
    2. A row's true distance is at least its grid distance minus its block's error, so every
       row that can be within ``cutoff`` has a grid distance within ``cutoff + error``: those
       rows (and the tail) are re-ranked in float32 and the exact top k kept. Rows left out are
       provably farther than k rows that were kept."""
    assert v.quantiser is not None
    probe_codes, probe_residual = v.quantiser.probe(q)
    blocks = v.blocks

    grid = np.empty(len(blocks) * BLOCK_ROWS, np.float32)  # grid units (distance / step) per blocked row

    def scan(part):
        for b in part:
            blocks[b].grid_distances(probe_codes, grid[b * BLOCK_ROWS : (b + 1) * BLOCK_ROWS])

    order = list(range(len(blocks)))
    if SCAN_THREADS > 1 and len(blocks) > 1:
        half = (len(order) + 1) // 2
        future = _pool().submit(scan, order[half:])
        scan(order[:half])
        future.result()
    else:
        scan(order)
    qq = float(q @ q)
    # The tail (rows not yet in a block) is scanned exactly once, as a contiguous slice.
    tail = np.arange(len(grid), v.rows)
    tail_d2 = v.sqnorms[len(grid) : v.rows] - 2.0 * (v.vectors[len(grid) : v.rows] @ q) + qq

    def distances(rows: np.ndarray) -> np.ndarray:
        return v.sqnorms[rows] - 2.0 * (v.vectors[rows] @ q) + qq

    sample = grid[::SAMPLE_STRIDE]
    first = np.flatnonzero(grid <= np.partition(sample, k - 1)[k - 1]) if len(sample) > k else np.arange(len(grid))
    d2 = np.concatenate([distances(first), tail_d2])
    d2 = d2[np.isfinite(d2)]
    cutoff = float(np.sqrt(max(float(np.partition(d2, k - 1)[k - 1]), 0.0))) if len(d2) >= k else np.inf
    if limit is not None:
        cutoff = min(cutoff, float(np.sqrt(limit)))
    errors = np.array([b.max_residual for b in blocks], np.float32) + probe_residual + quantised.ROUNDING
    per_block = grid.reshape(len(blocks), BLOCK_ROWS) <= ((cutoff + errors) / v.quantiser.step)[:, None]
    cand = np.flatnonzero(per_block)
    rows, d2 = _top(np.concatenate([cand, tail]), np.concatenate([distances(cand), tail_d2]), k)
    return rows, d2, len(cand) + len(tail)


def _top(rows: np.ndarray, d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest ``d2`` with their ``rows``, nearest first; ties go to the lower row (so
    that any subset holding the answer ranks like the full scan)."""
    if k < len(d2):
        kth = np.partition(d2, k - 1)[k - 1]
        keep = d2 <= kth
        rows, d2 = rows[keep], d2[keep]
    order = np.lexsort((rows, d2))[:k]
    return rows[order], d2[order]


def exact_nearest(vectors: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, squared distances) of the k nearest by a full float32 scan: the reference."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return _exact(vectors, np.einsum("ij,ij->i", vectors, vectors), np.asarray(q, dtype=np.float32), k)
