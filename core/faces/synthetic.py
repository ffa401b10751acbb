"""Synthetic face descriptors shaped like dlib's, for search benchmarks and tests at sizes no
photo set here reaches (100k-1M faces).

Random vectors with no structure are a poor stand-in for nearest-neighbour search: real
descriptors share a large common part, spread unevenly over the dimensions, and form groups.
This model copies what ``../shared/data/faces`` measures (43 faces of 14 people, dlib's
descriptor; ``bench/faces.py`` prints both side by side):

- every descriptor = a common mean (norm 1.36; real descriptors' norms are ~1.5) + the person
  + the photo;
- people differ along a power-law spectrum (exponent 0.78: a few directions carry most of the
  difference) with 16 groups holding 35 % of it (sex, age, ethnicity cluster real faces);
  different people are 0.85 +- 0.08 apart (real: 0.846 +- 0.080);
- photos of one person differ along another spectrum, 0.46 apart on average (real: 0.46 +- 0.07).
"""

from __future__ import annotations

import numpy as np

DIM = 128
MEAN_NORM = 1.36
BETWEEN_EXPONENT = 0.78
WITHIN_EXPONENT = 0.5
BETWEEN_TRACE = 0.253  # half the mean squared distance between two people's photos, less the photo part
WITHIN_TRACE = 0.108  # half the mean squared distance between two photos of one person
GROUPS = 16
GROUP_SHARE = 0.35


def _spectrum(exponent: float, total: float) -> np.ndarray:
    lam = np.arange(1, DIM + 1, dtype=np.float64) ** -exponent
    return lam / lam.sum() * total


class Population:
    """A fixed population model (``seed``): draw people, photos of them, and photo noise."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        mean = rng.normal(0, 1, DIM)
        self.mean = mean / np.linalg.norm(mean) * MEAN_NORM
        self._between = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
        self._within = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
        self._lb = _spectrum(BETWEEN_EXPONENT, BETWEEN_TRACE)
        self._lw = _spectrum(WITHIN_EXPONENT, WITHIN_TRACE)
        self._centres = (rng.normal(size=(GROUPS, DIM)) * np.sqrt(self._lb * GROUP_SHARE)) @ self._between.T

    def people(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 128) float32: n different people (their mean descriptor)."""
        group = rng.integers(0, GROUPS, n)
        own = (rng.normal(size=(n, DIM)) * np.sqrt(self._lb * (1 - GROUP_SHARE))) @ self._between.T
        return (self.mean + self._centres[group] + own).astype(np.float32)

    def noise(self, n: int, rng: np.random.Generator, length: np.ndarray | float | None = None) -> np.ndarray:
        """(n, 128) float32: how one photo of a person differs from another; ``length`` rescales
        each row to that L2 length (e.g. 0.3-0.5, the usual same-person distance)."""
        out = (rng.normal(size=(n, DIM)) * np.sqrt(self._lw)) @ self._within.T
        if length is not None:
            out *= (np.asarray(length, dtype=np.float64).reshape(-1, 1) if np.ndim(length) else length) / np.maximum(
                np.linalg.norm(out, axis=1, keepdims=True), 1e-12
            )
        return out.astype(np.float32)

    def photos(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 128) float32: one photo each of n different people (what a collection holds)."""
        return self.people(n, rng) + self.noise(n, rng)

    def probes(self, gallery: np.ndarray, known: int, unknown: int, rng: np.random.Generator):
        """(probes, rows): ``known`` new photos of people in ``gallery`` (a stored descriptor plus
        noise of length 0.3-0.5; row = that person's row) then ``unknown`` photos of people not
        in it (row = -1)."""
        rows = rng.integers(0, len(gallery), known)
        seen = gallery[rows] + self.noise(known, rng, rng.uniform(0.3, 0.5, known))
        unseen = self.photos(unknown, rng)
        return np.concatenate([seen, unseen]), np.concatenate([rows, np.full(unknown, -1)])
