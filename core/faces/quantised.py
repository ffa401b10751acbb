"""The 8-bit first pass of 1:N search: descriptors quantised to int8 and scanned by
onnxruntime, with a bound on the error so that the float32 re-ranking provably returns what
an exact scan returns.

Why onnxruntime: its MLAS kernels multiply a uint8 row by a *prepacked* constant int8 matrix
at close to memory speed on AVX2, and the matrix is a quarter of the float32 bytes (measured in
``bench/faces.py --search``: about half the CPU ms of numpy's float32 product at 1M faces, the
same run). numpy has no fast int8 product and faiss' 8-bit scan was not faster than float32 here
(docs/faces.md). A
constant matrix means one inference session per block of rows, rebuilt when the block changes:
``core.faces.search.SearchIndex`` cuts blocks of ``BLOCK_ROWS``, scans the rows not yet in a
block exactly, and rebuilds a block (milliseconds) when one of its faces is deleted.

The bound. Each vector is stored as ``x = o + s * c + r`` (``o``, ``s``: per-dimension offset and
step shared by the index, ``c``: int8 codes, ``r``: the rounding and clipping residual, known
exactly at build time). For a probe ``q`` with ``u = q - o`` and ``p = u * s`` quantised to
``alpha * (a - 128) + delta``, the squared distance is
``|x - o|^2 - 2 alpha (a - 128).c + |u|^2 - 2 (delta.c + u.r)``; the block's session computes
all but the last term, which Cauchy-Schwarz bounds by ``2 (|delta| max|c| + |u| max|r|)``. So a
row that a block did not return has an exact squared distance of at least (the block's worst
returned approximation) - (the bound): when that exceeds the k-th best exact distance among
the candidates, nothing the block left out can be in the answer; otherwise the block is scanned
exactly. Either way the answer is the exact scan's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

CANDIDATES_PER_BLOCK = 32
# Float32 rounding in the session's arithmetic and in the exact expansion (values ~1): far
# below any bound the quantisation gives, added so ties never certify wrongly.
ROUNDING = 1e-4
ZERO_POINT = 128


@dataclass(frozen=True)
class Quantiser:
    """Per-dimension offset and step mapping float32 descriptors to int8 codes."""

    offset: np.ndarray  # (D,) float32
    step: np.ndarray  # (D,) float32

    @classmethod
    def fit(cls, vectors: np.ndarray, margin: float = 0.1) -> Quantiser:
        """Offset and step covering ``vectors`` with ``margin`` (a fraction of each range) to
        spare, so later faces are rarely clipped (clipping only widens the bound)."""
        lo, hi = vectors.min(axis=0), vectors.max(axis=0)
        span = (hi - lo) * (1 + 2 * margin)
        return cls(((lo + hi) / 2).astype(np.float32), np.maximum(span / 254, 1e-12).astype(np.float32))

    def codes(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int8 codes, residual norms |r|) of ``vectors``."""
        scaled = np.clip(np.rint((vectors - self.offset) / self.step), -127, 127)
        residual = (vectors - self.offset) - scaled * self.step
        return scaled.astype(np.int8), np.sqrt(np.einsum("ij,ij->i", residual, residual))

    def probe(self, q: np.ndarray) -> tuple[np.ndarray, float, float, float, float]:
        """(uint8 row for the session, alpha, |u|^2, |u|, |delta|) of probe ``q``."""
        u = q - self.offset
        p = u * self.step
        alpha = float(np.abs(p).max()) / 127 or 1e-30
        a = np.rint(p / alpha)
        delta = p - alpha * a
        uu = float(u @ u)
        return (a + ZERO_POINT).astype(np.uint8)[None, :], alpha, uu, uu**0.5, float(np.sqrt(delta @ delta))


class Block:
    """One int8 block of rows in an onnxruntime session: its ``scan`` returns the
    ``CANDIDATES_PER_BLOCK`` rows with the smallest approximate squared distance (minus
    ``|u|^2``) and the bound on the approximation's error."""

    def __init__(self, quantiser: Quantiser, vectors: np.ndarray, alive: np.ndarray):
        """``vectors`` (n, D) float32; rows where ``alive`` is False (deleted faces) are coded
        as zeros and never returned."""
        codes, residual = quantiser.codes(vectors)
        codes[~alive] = 0
        residual[~alive] = 0.0
        centred = vectors - quantiser.offset
        self.norms = np.where(alive, np.einsum("ij,ij->i", centred, centred), np.inf).astype(np.float32)
        self.rows = len(vectors)
        self.max_residual = float(residual.max(initial=0.0))
        self.max_code = float(np.sqrt(np.einsum("ij,ij->i", codes, codes, dtype=np.float64)).max(initial=0.0))
        self.k = min(CANDIDATES_PER_BLOCK, self.rows)
        self._session = _session(np.ascontiguousarray(codes.T), self.k)

    def scan(self, a: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """(approximate squared distances minus |u|^2, row indices) of the block's best rows."""
        vals, idx = self._session.run(
            None, {"a": a, "norms": self.norms, "scale": np.asarray(-2.0 * alpha, dtype=np.float32)}
        )
        return vals, idx

    def bound(self, u_norm: float, delta_norm: float) -> float:
        return 2.0 * (delta_norm * self.max_code + u_norm * self.max_residual) + ROUNDING


_SESSION_OPTIONS = None
_OPTIONS_LOCK = threading.Lock()


def _options():
    global _SESSION_OPTIONS
    with _OPTIONS_LOCK:
        if _SESSION_OPTIONS is None:
            import onnxruntime as ort  # noqa: PLC0415 (optional: search stays exact without it)

            so = ort.SessionOptions()
            # One thread per session: SearchIndex spreads blocks over the cores itself (a
            # block is ~0.1 ms of work, less than handing it to a pool).
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _SESSION_OPTIONS = so
        return _SESSION_OPTIONS


def _session(codes_t: np.ndarray, k: int):
    """A session computing TopK-smallest of ``norms + scale * (a - 128) @ codes_t``."""
    import onnxruntime as ort  # noqa: PLC0415 (optional: search stays exact without it)
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415 (with onnxruntime)

    dim, n = codes_t.shape
    nodes = [
        helper.make_node("MatMulInteger", ["a", "codes", "zero_point"], ["dot"]),
        helper.make_node("Cast", ["dot"], ["dot_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["dot_f", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "norms"], ["d2"]),
        helper.make_node("Reshape", ["d2", "flat"], ["d2_flat"]),
        helper.make_node("TopK", ["d2_flat", "k"], ["values", "indices"], largest=0, sorted=0),
    ]
    graph = helper.make_graph(
        nodes,
        "int8_block_scan",
        [
            helper.make_tensor_value_info("a", TensorProto.UINT8, [1, dim]),
            helper.make_tensor_value_info("norms", TensorProto.FLOAT, [n]),
            helper.make_tensor_value_info("scale", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("values", TensorProto.FLOAT, [k]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, [k]),
        ],
        initializer=[
            numpy_helper.from_array(codes_t, "codes"),
            helper.make_tensor("zero_point", TensorProto.UINT8, [], [ZERO_POINT]),
            helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("k", TensorProto.INT64, [1], [k]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)  # readable by every onnxruntime we accept
    return ort.InferenceSession(model.SerializeToString(), _options(), providers=["CPUExecutionProvider"])


def available() -> bool:
    """Whether onnxruntime and onnx are importable (otherwise search stays exact float32)."""
    try:
        import onnx  # noqa: F401, PLC0415 (the question is whether it imports)
        import onnxruntime  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True
