"""1:N search over a collection's descriptors, answering exactly what a full float32 scan
answers.

Small collections are one float32 matrix-vector product with precomputed squared norms
(memory-bound: ~3.6 ms at 100k faces, ~38 ms at 1M on this machine when quiet). From
``QUANTISE_FROM`` faces on, rows are cut into blocks of ``BLOCK_ROWS`` that an int8 first pass
scans (``core.faces.quantised``: onnxruntime, a quarter of the bytes, both cores), and the
candidates it returns are re-ranked in float32; a bound on the int8 error proves that nothing
left out could be in the answer, and any block it cannot prove that for is scanned exactly.
Rows not yet in a block (the newest faces) are always scanned exactly. Figures and the
alternatives measured (faiss 8-bit, HNSW): docs/faces.md.

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
        onnxruntime is importable)."""
        self.generation = generation
        self.created = created
        self.quantise = quantised.available() if quantise is None else quantise
        self._write = threading.Lock()
        self._view = _empty_view()
        # How many int8 blocks searches scanned, and how many of those the bound could not
        # clear (scanned again in float32): for benchmarks and tests.
        self.scanned_blocks = 0
        self.exact_blocks = 0

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
            rows, d2, unproven = _two_pass(v, q, k, limit)
            self.scanned_blocks += len(v.blocks)
            self.exact_blocks += unproven
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
                capacity = max(rows, len(v.seqs) * 3 // 2, 1024)
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
    """(rows, squared distances) of the k nearest, nearest first, by a full float32 scan."""
    n = len(vectors)
    d2 = sqnorms - 2.0 * (vectors @ q) + float(q @ q)
    k = min(k, n)
    idx = np.argpartition(d2, k - 1)[:k] if k < n else np.arange(n)
    idx = idx[np.argsort(d2[idx], kind="stable")]
    return idx, d2[idx]


def _two_pass(v: _View, q: np.ndarray, k: int, limit: float | None) -> tuple[np.ndarray, np.ndarray, int]:
    """int8 blocks (both cores) + the exact tail, re-ranked in float32; blocks whose bound does
    not prove them irrelevant are scanned exactly. Returns (rows, squared distances, how many
    blocks were scanned exactly)."""
    assert v.quantiser is not None
    a, alpha, uu, u_norm, delta_norm = v.quantiser.probe(q)
    blocks = v.blocks

    def scan(part):
        return [blocks[b].scan(a, alpha) for b in part]

    order = list(range(len(blocks)))
    if SCAN_THREADS > 1 and len(blocks) > 1:
        half = (len(order) + 1) // 2
        future = _pool().submit(scan, order[half:])
        found = scan(order[:half]) + future.result()
    else:
        found = scan(order)
    tail_start = len(blocks) * BLOCK_ROWS
    cand = np.concatenate(
        [idx + b * BLOCK_ROWS for b, (_vals, idx) in enumerate(found)] + [np.arange(tail_start, v.rows)]
    )
    qq = float(q @ q)
    d2 = v.sqnorms[cand] - 2.0 * (v.vectors[cand] @ q) + qq
    kth = float(np.partition(d2, k - 1)[k - 1]) if len(d2) >= k else np.inf
    cutoff = kth if limit is None else min(kth, limit)
    unproven = [
        b
        for b, (vals, _idx) in enumerate(found)
        if blocks[b].k < blocks[b].rows and float(vals.max()) + uu - blocks[b].bound(u_norm, delta_norm) <= cutoff
    ]
    if unproven:
        extra = [np.arange(b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS) for b in unproven]
        cand = np.unique(np.concatenate([cand, *extra]))
        d2 = v.sqnorms[cand] - 2.0 * (v.vectors[cand] @ q) + qq
    take = min(k, len(cand))
    best = np.argpartition(d2, take - 1)[:take] if take < len(cand) else np.arange(len(cand))
    best = best[np.argsort(d2[best], kind="stable")]
    return cand[best], d2[best], len(unproven)


def exact_nearest(vectors: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, squared distances) of the k nearest by a full float32 scan: the reference."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return _exact(vectors, np.einsum("ij,ij->i", vectors, vectors), np.asarray(q, dtype=np.float32), k)
