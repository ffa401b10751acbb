"""The 8-bit first pass of 1:N search: descriptors kept as int8 codes on one grid, scanned with
NumKong's SIMD kernels, with a bound on the grid's error so that the float32 re-ranking
provably returns what an exact scan returns.

Why NumKong (``numkong``, the SIMD kernel library under usearch, formerly SimSIMD): its packed
int8 distance kernel reads a quarter of the float32 bytes at memory speed (AVX2 here, AVX-512 /
NEON where present) and returns integer-exact squared distances. Measured on this machine
(``bench/faces.py --search``, docs/faces.md): about 1 ms for 100k codes where numpy's float32
product takes 3.6 ms; onnxruntime's MatMulInteger (the previous first pass), faiss' 8-bit
scalar quantiser and usearch's exact int8 search all took 0.5-1.5x the float32 scan's time.

The bound. Every vector is coded on one grid: ``x = o + s * c + r`` (``o``: per-dimension
offset, ``s``: one step for all dimensions, ``c``: int8 codes, ``r``: the rounding/clipping
residual, known exactly at build time). A probe is coded on the same grid, ``q = o + s * c_q +
r_q``. Then ``x - q = s (c - c_q) + (r - r_q)``, so by the triangle inequality the true distance
is within ``|r| + |r_q|`` of ``s |c - c_q|`` (what the kernel computes, exactly in integers).
``core.faces.search`` re-ranks in float32 every row whose grid distance is within that error of
the k-th exact distance found, so nothing it leaves out can be in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Absolute slack (distance units) for float32 rounding: the kernel's sqrt of an integer and the
# float32 expansion |x|^2 - 2 x.q + |q|^2 of the exact scan (values ~1.5, errors ~1e-6).
ROUNDING = 1e-4
DEAD_CODE = -127


@dataclass(frozen=True)
class Quantiser:
    """Per-dimension offset and one step mapping float32 descriptors to int8 codes."""

    offset: np.ndarray  # (D,) float32
    step: float

    @classmethod
    def fit(cls, vectors: np.ndarray, margin: float = 0.1) -> Quantiser:
        """Offset and step covering ``vectors`` with ``margin`` (a fraction of the widest range)
        to spare, so later faces are rarely clipped (clipping only widens their block's bound)."""
        lo, hi = vectors.min(axis=0), vectors.max(axis=0)
        span = float((hi - lo).max()) * (1 + 2 * margin)
        return cls(((lo + hi) / 2).astype(np.float32), max(span / 254, 1e-12))

    def codes(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int8 codes, residual norms |r|) of ``vectors`` (n, D)."""
        centred = np.asarray(vectors, dtype=np.float32) - self.offset
        scaled = np.clip(np.rint(centred / self.step), -127, 127)
        residual = centred - scaled * np.float32(self.step)
        return scaled.astype(np.int8), np.sqrt(np.einsum("ij,ij->i", residual, residual))

    def probe(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        """(int8 codes as a (1, D) row, |r_q|) of probe ``q``."""
        codes, residual = self.codes(np.asarray(q, dtype=np.float32).reshape(1, -1))
        return codes, float(residual[0])


class Block:
    """A run of rows as NumKong-packed int8 codes. ``grid_distances`` returns, for every row,
    ``|c - c_q|`` (times ``step``: the grid distance); ``error`` bounds how far that is from the
    true distance for any row of the block."""

    def __init__(self, quantiser: Quantiser, vectors: np.ndarray, alive: np.ndarray):
        """``vectors`` (n, D) float32; rows where ``alive`` is False (deleted faces) keep nothing
        of the face: they are coded as the grid's far corner (-127 everywhere, ~4 apart from
        any descriptor), so they are never candidates (and never returned: their norm is
        infinite)."""
        import numkong  # noqa: PLC0415 (optional: search stays exact without it)

        codes, residual = quantiser.codes(vectors)
        codes[~alive] = DEAD_CODE
        self.rows = len(vectors)
        self.max_residual = float(residual[alive].max(initial=0.0))
        self._packed = numkong.dots_pack(codes)
        self._distances = numkong.euclideans_packed
        self._wrap = numkong.from_dlpack  # lets the kernel write into a slice of one array
        self.nbytes = int(self._packed.nbytes)

    def grid_distances(self, probe_codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(rows,) float32: Euclidean distances between the probe's codes and every row's,
        written into ``out`` (a contiguous float32 slice of that length) when given."""
        if out is None:
            return np.asarray(self._distances(probe_codes, self._packed))[0]
        self._distances(probe_codes, self._packed, out=self._wrap(out.reshape(1, -1)))
        return out


def available() -> bool:
    """Whether NumKong is importable (otherwise search stays exact float32)."""
    try:
        import numkong  # noqa: F401, PLC0415 (the question is whether it imports)
    except ImportError:
        return False
    return True
