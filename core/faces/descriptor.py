"""The 128-d face descriptor: dlib's ResNet, run by onnxruntime, with dlib itself as fallback.

Both runtimes take the same input, 150x150 RGB face chips cut by dlib's ``get_face_chip``
(5-point alignment, padding 0.25: what ``compute_face_descriptor`` does without jitter), and
give the same vectors (L2 difference < 1e-3, measured in ``tests/faces/test_descriptor.py``
and ``bench/faces.py``), so collections indexed by either stay valid.

The ONNX model is built from dlib's ``.dat`` file on first use (``core.faces.dlib_net``) and
cached as ``<cache dir>/dlib_resnet-<sha256 of the .dat>-c<converter version>.onnx``. At
build time dlib describes a fixed probe chip and the vector is stored beside the model; at
every load the ONNX net must reproduce it, otherwise the cache is rebuilt once and, if that
fails too, dlib runs the descriptor (logged once; ``status`` says why).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from core.faces import dlib_net
from core.storage import memory

log = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25
PARITY_TOLERANCE = 1e-3  # L2 between dlib's and the ONNX descriptor of the same chip
# onnxruntime threads for one run. Two cores here: measured in bench/faces.py (docs/benchmarks.md).
INTRA_OP_THREADS = max(1, min(2, os.cpu_count() or 1))


def probe_chip() -> np.ndarray:
    """A fixed 150x150 RGB chip (smooth gradients plus texture) for the load-time self-check."""
    yy, xx = np.mgrid[0:CHIP_SIZE, 0:CHIP_SIZE].astype(np.float32)
    rng = np.random.default_rng(20261201)
    noise = rng.integers(0, 40, (CHIP_SIZE, CHIP_SIZE, 3))
    base = np.stack([xx * 1.4, yy * 1.4, (xx + yy) * 0.7], axis=-1)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


class DlibDescriptor:
    """dlib's own ResNet (no BLAS in the prebuilt wheel: ~80 ms a face on this machine)."""

    runtime = "dlib"

    def __init__(self, model_path: Path):
        import dlib  # noqa: PLC0415 (dlib is heavy: only for the dlib runtime)

        self._net = dlib.face_recognition_model_v1(str(model_path))
        self._lock = threading.Lock()

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 for N aligned 150x150 RGB chips."""
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        with self._lock:
            vecs = self._net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return np.asarray([np.asarray(v) for v in vecs], dtype=np.float32).reshape(len(chips), 128)


class OnnxDescriptor:
    """The same ResNet in onnxruntime (thread-safe: one session serves every thread)."""

    runtime = "onnxruntime"

    def __init__(self, model_bytes_or_path, threads: int = INTRA_OP_THREADS):
        import onnxruntime as ort  # noqa: PLC0415 (onnxruntime is heavy: loaded with the model, on first use)

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle workers must not spin: the app, the API and the broker share two cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = str(model_bytes_or_path) if isinstance(model_bytes_or_path, Path) else model_bytes_or_path
        self._session = ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
        release_freed_memory()

    def describe(self, chips: list[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 for N aligned 150x150 RGB chips, all in one run."""
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        x = np.stack(chips).astype(np.float32).transpose(0, 3, 1, 2)
        return self._session.run(None, {"x": np.ascontiguousarray(x)})[0].astype(np.float32)


def release_freed_memory() -> None:
    """Give the heap that loading freed back to the system (glibc keeps it otherwise): building
    a session parses the 22 MB model and copies its weights, ~45 MB that RSS would keep."""
    memory.release_freed_memory()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_model_path(dat_path: Path, cache_dir: Path) -> Path:
    digest = _sha256(dat_path)[:16]
    return Path(cache_dir) / f"dlib_resnet-{digest}-c{dlib_net.CONVERTER_VERSION}.onnx"


def build_onnx(dat_path: Path, target: Path, reference: DlibDescriptor) -> OnnxDescriptor:
    """Convert dlib's .dat to ONNX at ``target`` (atomically) with the probe vector beside it;
    returns the loaded descriptor. Raises DlibFormatError / ImportError / RuntimeError when
    that cannot be done faithfully."""
    _loss, entries = dlib_net.read_network(Path(dat_path).read_bytes())
    model = dlib_net.to_onnx(
        dlib_net.bind(dlib_net.face_resnet(), entries), (CHIP_SIZE, CHIP_SIZE), "dlib_resnet", True
    )
    data = model.SerializeToString()
    expected = reference.describe([probe_chip()])[0]
    built = OnnxDescriptor(data)
    got = built.describe([probe_chip()])[0]
    gap = float(np.linalg.norm(got - expected))
    if not gap < PARITY_TOLERANCE:
        raise RuntimeError(f"converted net differs from dlib by {gap:.2e} on the probe chip")
    target.parent.mkdir(parents=True, exist_ok=True)
    for path, payload in (
        (target.with_suffix(".probe.json"), json.dumps({"probe": expected.tolist()}).encode()),
        (target, data),
    ):
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    del model, data
    release_freed_memory()
    return built


def _load_checked(path: Path) -> OnnxDescriptor:
    expected = np.asarray(json.loads(path.with_suffix(".probe.json").read_text())["probe"], dtype=np.float32)
    onnx_desc = OnnxDescriptor(path)
    gap = float(np.linalg.norm(onnx_desc.describe([probe_chip()])[0] - expected))
    if not gap < PARITY_TOLERANCE:
        raise RuntimeError(f"cached model differs from dlib by {gap:.2e} on the probe chip")
    return onnx_desc


def load_descriptor(dat_path: Path, cache_dir: Path | None, prefer_onnx: bool = True):
    """(descriptor, status): the ONNX descriptor when it can be built/loaded and passes the
    probe check, else dlib's. ``status`` is one line for health pages. Never raises for an
    ONNX problem (dlib is the fallback); raises only if dlib itself cannot load."""
    dat_path = Path(dat_path)
    if not prefer_onnx or cache_dir is None:
        return DlibDescriptor(dat_path), "dlib (onnxruntime not requested)"
    target = cached_model_path(dat_path, Path(cache_dir))
    reason = ""
    for attempt in ("cached", "rebuilt"):
        try:
            status = f"onnxruntime ({target.name}, {INTRA_OP_THREADS} threads)"
            if attempt == "rebuilt" or not target.exists():
                return build_onnx(dat_path, target, DlibDescriptor(dat_path)), status
            return _load_checked(target), status
        except Exception as exc:  # noqa: BLE001 - any failure means: use dlib, say why
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ImportError):
                break  # onnx/onnxruntime missing: rebuilding cannot help
            if attempt == "cached":
                log.warning("face descriptor: cached ONNX model unusable (%s); rebuilding it", reason)
    log.warning("face descriptor: falling back to dlib (%s)", reason)
    return DlibDescriptor(dat_path), f"dlib (fallback: {reason})"
