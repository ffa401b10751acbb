"""MTCNN face detection (Zhang et al. 2016) run by onnxruntime, with the weights the ``mtcnn``
wheel ships (``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``, MIT; joblib-pickled Keras arrays).

Why by hand: the ``mtcnn`` package runs its nets in TensorFlow (gigabytes); the three nets are
small plain CNNs (conv, PReLU, max-pool, dense), so they are rebuilt here as ONNX graphs from
the arrays (in memory, ~5 ms) and the cascade (image pyramid, proposal decoding, box
regression, non-max suppression) is the published one, as the package's own stages do it.

With a cache dir the graphs are written there once (``mtcnn-<sha256 of the weights>-c<converter
version>-<net>.onnx`` plus a manifest of their own hashes), so a later process loads them without
importing ``onnx`` or ``joblib`` (~40 MB of memory a process); an unreadable or altered cache is
rebuilt from the wheel.

The engine uses the boxes only: dlib's 5-point shape predictor still aligns every face, so the
descriptor sees the chips it was made for. MTCNN's boxes are tighter and sit lower than the
HOG boxes that shape predictor was trained on, so ``DlibBoxMap`` turns one into the other
(measured on the shared photos, see docs/faces.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1  # bump when the graphs built here change: cached files are rebuilt
NETS = ("pnet", "rnet", "onet")
PYRAMID_FACTOR = 0.709  # each level is 0.709 of the one above (the paper's, half the area)
PNET_CELL, PNET_STRIDE = 12, 2


def weights_dir() -> Path | None:
    """Where the ``mtcnn`` wheel keeps its weights, or None when it is not installed."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / "weights"
    return path if (path / "pnet.lz4").is_file() else None


def _graph(name: str, weights: list[np.ndarray], layers: list[tuple], outputs: list[tuple], in_hw):
    """An onnx.ModelProto: ``layers`` is a list of ("conv"|"prelu"|"pool"|"flatten"|"dense", arg)
    consuming ``weights`` in order (Keras' order: kernel, bias / alpha); ``outputs`` are heads
    (name, "conv"|"dense", softmax?) each consuming a kernel and a bias."""
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415 (needed only to build the nets)

    it = iter(weights)
    nodes, inits = [], []
    n = iter(range(1 << 20))

    def const(arr: np.ndarray) -> str:
        k = f"w{next(n)}"
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), k))
        return k

    def conv(x: str) -> str:
        kernel, bias = next(it), next(it)  # Keras (kh, kw, in, out) -> ONNX (out, in, kh, kw)
        y = f"t{next(n)}"
        nodes.append(helper.make_node("Conv", [x, const(kernel.transpose(3, 2, 0, 1)), const(bias)], [y]))
        return y

    def dense(x: str) -> str:
        kernel, bias = next(it), next(it)  # (in, out)
        y = f"t{next(n)}"
        nodes.append(helper.make_node("Gemm", [x, const(kernel), const(bias)], [y]))
        return y

    # The input is the image as it comes, (N, H, W, 3) uint8 RGB: converting and normalising in
    # the graph costs far less than in numpy (that took most of a detection's time).
    nodes.append(helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Sub", ["xf", const(np.array(127.5, np.float32))], ["xc"]))
    nodes.append(helper.make_node("Mul", ["xc", const(np.array(1 / 128, np.float32))], ["xn"]))
    nodes.append(helper.make_node("Transpose", ["xn"], ["xt"], perm=[0, 3, 1, 2]))
    x = "xt"
    for kind, arg in layers:
        if kind == "conv":
            x = conv(x)
        elif kind == "prelu":
            alpha = next(it).reshape(-1)
            y = f"t{next(n)}"
            nodes.append(helper.make_node("PRelu", [x, const(alpha.reshape(-1, 1, 1) if arg else alpha)], [y]))
            x = y
        elif kind == "pool":  # Keras' "same" pads at the end, as SAME_UPPER; "valid" does not
            size, same = arg
            y = f"t{next(n)}"
            pads = {"auto_pad": "SAME_UPPER"} if same else {}
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[size, size], strides=[2, 2], **pads))
            x = y
        elif kind == "flatten":  # Keras Permute((2, 1, 3)) then Flatten: (N, W, H, C) order
            t, y = f"t{next(n)}", f"t{next(n)}"
            nodes.append(helper.make_node("Transpose", [x], [t], perm=[0, 3, 2, 1]))
            nodes.append(helper.make_node("Flatten", [t], [y], axis=1))
            x = y
        elif kind == "dense":
            x = dense(x)
    outs = []
    for out_name, head, softmax in outputs:
        y = conv(x) if head == "conv" else dense(x)
        if softmax:
            nodes.append(helper.make_node("Softmax", [y], [out_name], axis=1))
        else:
            nodes.append(helper.make_node("Identity", [y], [out_name]))
        outs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None))
    if next(it, None) is not None:
        raise ValueError(f"{name}: weights left over (the wheel's layout changed)")
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", *in_hw, 3])], outs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def build_models(wdir: Path) -> dict:
    """The three nets as onnx.ModelProto, from the wheel's arrays. Raises on a layout change."""
    import joblib  # noqa: PLC0415 (reads the wheel's weight files; needed only to build the nets)

    w = {k: list(joblib.load(wdir / f"{k}.lz4")) for k in ("pnet", "rnet", "onet")}
    c, p = ("conv", None), ("prelu", True)
    pnet = _graph(
        "mtcnn_pnet", w["pnet"], [c, p, ("pool", (2, True)), c, p, c, p],
        [("box", "conv", False), ("prob", "conv", True)], ["H", "W"],
    )  # fmt: skip
    rnet = _graph(
        "mtcnn_rnet", w["rnet"],
        [c, p, ("pool", (3, True)), c, p, ("pool", (3, False)), c, p,
         ("flatten", None), ("dense", None), ("prelu", False)],
        [("box", "dense", False), ("prob", "dense", True)], [24, 24],
    )  # fmt: skip
    onet = _graph(
        "mtcnn_onet", w["onet"],
        [c, p, ("pool", (3, True)), c, p, ("pool", (3, False)), c, p, ("pool", (2, True)), c, p,
         ("flatten", None), ("dense", None), ("prelu", False)],
        [("box", "dense", False), ("points", "dense", False), ("prob", "dense", True)], [48, 48],
    )  # fmt: skip
    return {"pnet": pnet, "rnet": rnet, "onet": onet}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_models(wdir: Path, cache_dir: Path | None) -> dict[str, bytes]:
    """The three nets as serialised ONNX: from ``cache_dir`` when it holds them for these
    weights (checked against the manifest), else built from the wheel (and cached there)."""
    if cache_dir is None:
        return {k: m.SerializeToString() for k, m in build_models(wdir).items()}
    weights = _digest(b"".join(_digest((wdir / f"{k}.lz4").read_bytes()).encode() for k in NETS))[:16]
    stem = f"mtcnn-{weights}-c{CONVERTER_VERSION}"
    manifest = Path(cache_dir) / f"{stem}.json"
    try:
        want = json.loads(manifest.read_text())
        found = {k: (Path(cache_dir) / f"{stem}-{k}.onnx").read_bytes() for k in NETS}
        if all(_digest(found[k]) == want[k] for k in NETS):
            return found
        log.warning("face detector: cached MTCNN graphs do not match their manifest; rebuilding them")
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not cached yet (or unreadable): build below
    built = {k: m.SerializeToString() for k, m in build_models(wdir).items()}
    try:
        for k, data in built.items():
            atomic_write_bytes(Path(cache_dir) / f"{stem}-{k}.onnx", data)
        atomic_write_bytes(manifest, json.dumps({k: _digest(v) for k, v in built.items()}).encode())
    except OSError as exc:  # a read-only or full data dir: run from memory
        log.warning("face detector: cannot cache the MTCNN graphs in %s: %s", cache_dir, exc)
    return built


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy non-max suppression (IoU, or overlap / smaller area)."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        denom = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(denom, 1e-9) <= threshold]
    return np.asarray(keep, dtype=int)


def _square(boxes: np.ndarray) -> np.ndarray:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1, y1 = boxes[:, 0] + (w - side) / 2, boxes[:, 1] + (h - side) / 2
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


@dataclass(frozen=True)
class DlibBoxMap:
    """From an MTCNN box to the box dlib's HOG detector draws round the same face (what its
    shape predictors were trained on): centre shift and side as fractions of the MTCNN box's
    width. Fitted on the shared photos' faces both detectors find (bench/faces.py prints it)."""

    dx: float = 0.0
    dy: float = 0.0
    side: float = 1.0

    def apply(self, box) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box[:4]
        w = x2 - x1
        cx, cy = (x1 + x2) / 2 + self.dx * w, (y1 + y2) / 2 + self.dy * w
        half = self.side * w / 2
        return cx - half, cy - half, cx + half, cy + half


class MtcnnDetector:
    """The three-stage cascade. ``detect`` returns (left, top, right, bottom, score) boxes in
    image pixels as the nets draw them (``DlibBoxMap`` converts). Thread-safe: the sessions
    are onnxruntime's, which serve concurrent runs."""

    def __init__(self, wdir: Path | None = None, threads: int = 2, cache_dir: Path | None = None):
        import onnxruntime as ort  # noqa: PLC0415 (heavy: loaded with the models, on first use)

        wdir = wdir or weights_dir()
        if wdir is None:
            raise RuntimeError("the mtcnn package (its weight files) is not installed")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        # Idle workers must not spin: the app, the API and the broker share two cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Every pyramid level of every photo size is a new input shape: with onnxruntime's arena
        # and per-shape memory patterns a process grew by ~160 MB over 40 photo sizes (and kept
        # growing; the engine held 43 MB less after one group photo without them, at the same
        # speed); without them it levels off (the engine also caps MTCNN's image at 800 px).
        so.enable_cpu_mem_arena = False
        so.enable_mem_pattern = False
        models = load_models(wdir, cache_dir)
        self._sessions = {k: ort.InferenceSession(m, so, providers=["CPUExecutionProvider"]) for k, m in models.items()}

    def _run(self, net: str, x: np.ndarray) -> list[np.ndarray]:
        return self._sessions[net].run(None, {"x": np.ascontiguousarray(x)})

    def _proposals(self, rgb: np.ndarray, min_face: float, threshold: float) -> np.ndarray:
        """Stage 1: PNet over the image pyramid -> (K, 5) boxes with scores."""
        import cv2  # noqa: PLC0415 (heavy: loaded with the models, on first use)

        h, w = rgb.shape[:2]
        scale = PNET_CELL / min_face
        found = []
        # Each level: halvings by INTER_AREA (cv2's fast path for whole factors) down to the
        # nearest one above it, then linear for the rest (< 2x, little aliasing). A direct
        # INTER_AREA resize by 0.3 took ~2 ms a level, most of a detection.
        halves = [rgb]
        while min(h, w) * scale >= PNET_CELL:
            size = (max(1, int(np.ceil(w * scale))), max(1, int(np.ceil(h * scale))))
            while halves[-1].shape[1] // 2 >= size[0] and halves[-1].shape[0] // 2 >= size[1]:
                top = halves[-1]
                halves.append(cv2.resize(top, (top.shape[1] // 2, top.shape[0] // 2), interpolation=cv2.INTER_AREA))
            source = next(x for x in reversed(halves) if x.shape[1] >= size[0] and x.shape[0] >= size[1])
            level = source if source.shape[1::-1] == size else cv2.resize(source, size, interpolation=cv2.INTER_LINEAR)
            box, prob = self._run("pnet", level[None])
            rows, cols = np.nonzero(prob[0, 1] > threshold)
            if rows.size:
                score = prob[0, 1, rows, cols]
                reg = box[0][:, rows, cols].T
                # The cell's window in this level, then the regression, then image pixels.
                x1, y1 = cols * PNET_STRIDE + 1, rows * PNET_STRIDE + 1
                x2, y2 = cols * PNET_STRIDE + PNET_CELL, rows * PNET_STRIDE + PNET_CELL
                b = np.stack([x1, y1, x2, y2], axis=1) + reg * (PNET_CELL - 1)
                b /= scale
                keep = _nms(b, score, 0.5)
                found.append(np.column_stack([b[keep], score[keep]]))
            scale *= PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 5))
        allb = np.concatenate(found)
        return allb[_nms(allb[:, :4], allb[:, 4], 0.7)]

    @staticmethod
    def _patches(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
        """(N, size, size, 3) uint8 crops of ``boxes`` (outside the image: mid grey)."""
        import cv2  # noqa: PLC0415 (heavy: loaded with the models, on first use)

        out = np.empty((len(boxes), size, size, 3), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes[:, :4]):
            sx, sy = size / max(x2 - x1, 1e-3), size / max(y2 - y1, 1e-3)
            m = np.array([[sx, 0, -x1 * sx], [0, sy, -y1 * sy]], dtype=np.float64)
            out[i] = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
        return out

    def detect(
        self,
        rgb: np.ndarray,
        min_face: float = 20.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
    ) -> list[tuple[float, float, float, float, float]]:
        """Faces of at least ~``min_face`` px in an RGB uint8 image, best first:
        (left, top, right, bottom, probability). Boxes may reach outside the image."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        boxes = self._proposals(rgb, max(min_face, PNET_CELL), thresholds[0])
        for net, size, threshold in (("rnet", 24, thresholds[1]), ("onet", 48, thresholds[2])):
            if not len(boxes):
                return []
            boxes = np.column_stack([_square(boxes[:, :4]), boxes[:, 4]])
            outs = self._run(net, self._patches(rgb, boxes, size))
            offsets, prob = outs[0], outs[-1][:, 1]
            ok = prob > threshold
            boxes = np.column_stack([_regress(boxes[ok, :4], offsets[ok]), prob[ok]])
            keep = _nms(boxes[:, :4], boxes[:, 4], 0.7, by_min=net == "onet")
            boxes = boxes[keep]
        return [tuple(float(v) for v in b) for b in boxes[np.argsort(-boxes[:, 4])]]  # type: ignore[misc]
