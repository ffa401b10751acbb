"""Read a network that dlib serialised (``.dat``) and rebuild it as an ONNX graph.

Why by hand: no registry package converts dlib's DNN files, and the prebuilt ``dlib-bin``
wheel runs the face descriptor ResNet without BLAS (~80 ms a face here); the same weights in
onnxruntime take a few ms. The file format follows dlib's sources (``dlib/serialize.h``,
``dlib/float_details.h``, ``dlib/cuda/tensor.h``, ``dlib/dnn/core.h``, ``layers.h``,
``input.h``); the network shapes follow dlib's examples (``dnn_face_recognition_ex.cpp``,
``dnn_mmod_face_detection_ex.cpp``). Every weight is decoded exactly (tensors are raw
little-endian float32 in the file), so the ONNX net computes what dlib computes.

The stream does not record which wrapper is a tag and which a skip (both are "version 1,
then the subnetwork"), nor tag ids: those live in dlib's C++ types. So the topology is
declared here with helpers named after dlib's templates and checked layer by layer
(kind, filters, kernel, stride, padding) against what the file holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Bump when the graph this module builds changes: cached models are keyed on it.
CONVERTER_VERSION = 2


class DlibFormatError(ValueError):
    """The file is not the dlib network this module expects (or is truncated/corrupt)."""


# --- dlib's serialisation primitives ---------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"file ends at byte {len(self.data)}, wanted {n} more at {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        # serialize.h: one control byte (byte count, 0x80 = negative), then the
        # magnitude little-endian in that many bytes.
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        # float_details.h: mantissa (int64) * 2**exponent (int16); three exponents are flags.
        mantissa, exponent = self.integer(), self.integer()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(mantissa, exponent)

    def boolean(self) -> bool:
        byte = self._take(1)
        if byte not in (b"0", b"1", b"\x00", b"\x01"):
            raise DlibFormatError(f"bad bool {byte!r} at {self.pos - 1}")
        return byte in (b"1", b"\x01")

    def string(self) -> str:
        n = self.integer()
        if n < 0 or n > 1 << 16:
            raise DlibFormatError(f"implausible string length {n} at {self.pos}")
        return self._take(n).decode("latin-1")

    def tensor(self) -> np.ndarray:
        # tensor.h: version 2, four dimensions, then raw little-endian float32.
        if self.integer() != 2:
            raise DlibFormatError(f"unknown tensor version at {self.pos}")
        dims = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in dims):
            raise DlibFormatError(f"negative tensor size {dims}")
        count = int(np.prod(dims))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        if self.integer() != 1:
            raise DlibFormatError(f"unknown alias_tensor version at {self.pos}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


@dataclass
class Layer:
    """One computational layer as read from the file (``kind`` is dlib's version string)."""

    kind: str
    p: dict = field(default_factory=dict)


def _read_details(r: _Reader) -> Layer:
    kind = r.string()
    p: dict = {}
    if kind == "con_4":
        params = r.tensor().reshape(-1)
        n, nr, nc = r.integer(), r.integer(), r.integer()
        sy, sx, py, px = r.integer(), r.integer(), r.integer(), r.integer()
        filters, biases = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        size = int(np.prod(filters))
        if size + int(np.prod(biases)) != params.size or filters[0] != n:
            raise DlibFormatError("con_ parameter sizes do not add up")
        p = dict(
            filters=params[:size].reshape(filters),
            biases=params[size:].copy(),
            num_filters=n,
            kernel=(nr, nc),
            stride=(sy, sx),
            padding=(py, px),
        )
    elif kind == "affine_":
        params = r.tensor().reshape(-1)
        gamma, beta = r.alias(), r.alias()
        mode = r.integer()
        g = int(np.prod(gamma))
        p = dict(gamma=params[:g].copy(), beta=params[g : g + int(np.prod(beta))].copy(), mode=mode)
    elif kind == "bn_con2":
        params = r.tensor().reshape(-1)
        gamma, _beta = r.alias(), r.alias()
        r.tensor(), r.tensor()  # batch means / inverse stds of the last training batch
        running_means, running_variances = r.tensor().reshape(-1), r.tensor().reshape(-1)
        r.integer(), r.integer()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.real()
        eps = r.real()
        g = int(np.prod(gamma))
        # What dlib does when it loads a bn_ into an affine_ (the inference net):
        # gamma' = gamma / sqrt(var + eps), beta' = beta - gamma' * mean.
        scale = params[:g] / np.sqrt(running_variances + eps)
        p = dict(
            gamma=scale.astype(np.float32),
            beta=(params[g : 2 * g] - scale * running_means).astype(np.float32),
            mode=1,
        )
        kind = "affine_"
    elif kind in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
        p = dict(kernel=(nr, nc), stride=(sy, sx), padding=(py, px))
    elif kind == "fc_2":
        num_outputs, num_inputs = r.integer(), r.integer()
        params = r.tensor().reshape(-1)
        weights, biases = r.alias(), r.alias()
        bias_mode = r.integer()
        for _ in range(4):
            r.real()
        w = int(np.prod(weights))
        p = dict(
            weights=params[:w].reshape(weights[0], weights[1]),  # (inputs, outputs): y = x @ W
            biases=params[w:].copy() if bias_mode == 0 and params.size > w else None,
            num_outputs=num_outputs,
            num_inputs=num_inputs,
        )
    elif kind in ("relu_", "add_prev_"):
        pass
    elif kind == "input_rgb_image_sized":
        p = dict(mean=(r.real(), r.real(), r.real()), size=(r.integer(), r.integer()))
    elif kind == "input_rgb_image_pyramid":  # the pyramid itself is built by the caller
        p = dict(mean=(r.real(), r.real(), r.real()))
    else:
        raise DlibFormatError(f"unsupported dlib layer {kind!r}")
    return Layer(kind, p)


def _read_subnet(r: _Reader, out: list) -> None:
    """Read the nested subnetwork, appending entries top-down: ("layer", Layer) for an
    add_layer, ("wrap", None) for a tag or skip, ("input", Layer) for the input."""
    version = r.integer()
    if version == 1:  # add_tag_layer / add_skip_layer: just the subnetwork
        out.append(("wrap", None))
        _read_subnet(r, out)
        return
    if version == 2:  # add_layer on a subnetwork
        slot = len(out)
        out.append(None)
        _read_subnet(r, out)
        out[slot] = ("layer", _read_details(r))
        for _ in range(3):  # setup called, gradient stale, getters disabled
            r.boolean()
        for _ in range(3):  # x_grad, cached_output, params_grad
            r.tensor()
        return
    if version == 3:  # add_layer on the input layer: the input's details come first
        source = _read_details(r)
        out.append(("layer", _read_details(r)))
        out.append(("input", source))
        for _ in range(3):
            r.boolean()
        for _ in range(3):  # x_grad, cached_output, grad_final
            r.tensor()
        r.integer()  # sample expansion factor
        return
    raise DlibFormatError(f"unknown layer wrapper version {version} at {r.pos}")


def read_network(data: bytes) -> tuple[Layer, list]:
    """(loss layer, entries top-down) of a serialised ``add_loss_layer``; raises DlibFormatError."""
    r = _Reader(data)
    if r.integer() != 1:
        raise DlibFormatError("not a dlib add_loss_layer (version)")
    loss = Layer(r.string())
    if loss.kind == "loss_metric_2":
        loss.p = dict(margin=r.real(), distance_threshold=r.real())
    elif loss.kind == "loss_mmod_":
        # mmod_options version 1: one detector window, losses, then two box-overlap testers
        # (IoU threshold, covered fraction): the first is the non-max suppression rule.
        if r.integer() != 1:
            raise DlibFormatError("unsupported mmod_options version")
        loss.p = dict(window=(r.integer(), r.integer()))
        r.real(), r.real(), r.real()  # loss per false alarm / missed target, truth IoU
        loss.p["nms_iou"], loss.p["nms_covered"] = r.real(), r.real()
        r.real(), r.real()  # overlaps_ignore
    else:
        raise DlibFormatError(f"unsupported loss {loss.kind!r}")
    entries: list = []
    _read_subnet(r, entries)
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} bytes left after the network")
    return loss, entries


# --- topology: dlib's templates as plain Python ------------------------------------------------
# A node is (op, args, subnet). Built top-down like the C++ types, evaluated bottom-up.
def con(n, k, s, sub):
    return ("con_4", dict(num_filters=n, kernel=(k, k), stride=(s, s)), sub)


def affine(sub):
    return ("affine_", {}, sub)


def relu(sub):
    return ("relu_", {}, sub)


def max_pool(k, s, sub):
    return ("max_pool_2", dict(kernel=(k, k), stride=(s, s)), sub)


def avg_pool(k, s, sub):
    return ("avg_pool_2", dict(kernel=(k, k), stride=(s, s)), sub)


def avg_pool_everything(sub):
    return ("avg_pool_2", dict(kernel=(0, 0), stride=(1, 1)), sub)


def fc_no_bias(n, sub):
    return ("fc_2", dict(num_outputs=n), sub)


def tag(i, sub):
    return ("tag", dict(id=i), sub)


def skip(i, sub):
    return ("skip", dict(id=i), sub)


def add_prev(i, sub):
    return ("add_prev_", dict(id=i), sub)


INPUT: tuple[str, dict, None] = ("input", {}, None)


def face_resnet():
    """dlib's ``anet_type`` from dnn_face_recognition_ex.cpp (the 128-d face descriptor)."""

    def block(n, stride, sub):  # BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,SUBNET>>>>>
        return affine(con(n, 3, 1, relu(affine(con(n, 3, stride, sub)))))

    def ares(n, sub):  # relu<add_prev1<block<N,1,tag1<SUBNET>>>>
        return relu(add_prev(1, block(n, 1, tag(1, sub))))

    def ares_down(n, sub):  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
        return relu(add_prev(2, avg_pool(2, 2, skip(1, tag(2, block(n, 2, tag(1, sub)))))))

    net = max_pool(3, 2, relu(affine(con(32, 7, 2, INPUT))))
    net = ares(32, ares(32, ares(32, net)))  # level 4
    net = ares(64, ares(64, ares(64, ares_down(64, net))))  # level 3
    net = ares(128, ares(128, ares_down(128, net)))  # level 2
    net = ares(256, ares(256, ares_down(256, net)))  # level 1
    net = ares_down(256, net)  # level 0
    return fc_no_bias(128, avg_pool_everything(net))


def mmod_detector():
    """dlib's ``net_type`` from dnn_mmod_face_detection_ex.cpp (the MMOD CNN face detector)."""

    def con5d(n, sub):
        return con(n, 5, 2, sub)

    def con5(n, sub):
        return con(n, 5, 1, sub)

    def downsampler(sub):
        return relu(affine(con5d(32, relu(affine(con5d(32, relu(affine(con5d(16, sub)))))))))

    def rcon5(sub):
        return relu(affine(con5(45, sub)))

    return con(1, 9, 1, rcon5(rcon5(rcon5(downsampler(INPUT)))))


def _flatten(node) -> list:
    out = []
    while node is not None:
        out.append(node)
        node = node[2]
    return out


def bind(topology, entries: list) -> list[tuple[str, dict, Layer | None]]:
    """Pair each node of ``topology`` with the layer read from the file, bottom-up.
    Raises DlibFormatError when the file's network is not this topology."""
    nodes = _flatten(topology)
    if len(nodes) != len(entries):
        raise DlibFormatError(f"file has {len(entries)} layers, the expected net {len(nodes)}")
    bound: list[tuple[str, dict, Layer | None]] = []
    for (op, args, _), (what, layer) in zip(nodes, entries):
        if op in ("tag", "skip"):
            if what != "wrap":
                raise DlibFormatError(f"expected a {op} wrapper, found {layer.kind if layer else what}")
            bound.append((op, args, None))
            continue
        if op == "input":
            if what != "input":
                raise DlibFormatError("expected the input layer at the bottom")
            bound.append((op, args, layer))
            continue
        if what != "layer" or layer.kind != op:
            raise DlibFormatError(f"expected {op}, found {layer.kind if layer else what}")
        for key in ("num_filters", "kernel", "stride", "num_outputs"):
            if key in args and layer.p.get(key) != args[key]:
                raise DlibFormatError(f"{op}: {key} {layer.p.get(key)} != expected {args[key]}")
        bound.append((op, args, layer))
    return bound[::-1]


# --- ONNX --------------------------------------------------------------------------------------
def to_onnx(bound: list, input_hw: tuple[int, int] | None, name: str, outputs_flat: bool):
    """An onnx.ModelProto computing the bound net on input ``x`` (N, 3, H, W) float32 holding
    the raw RGB pixel values 0-255 (the input layer's mean/scale is part of the graph).
    ``input_hw`` fixes H, W (needed where dlib adds tensors of different sizes)."""
    import onnx  # noqa: PLC0415 (onnx is needed only to convert the network)
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415 (onnx is needed only to convert the network)

    nodes, inits = [], []
    counter = iter(range(1 << 30))

    def fresh(prefix: str) -> str:
        return f"{prefix}_{next(counter)}"

    def const(arr: np.ndarray, prefix: str) -> str:
        n = fresh(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def out_size(size, k, s, pad):
        return 1 + (size + 2 * pad - k) // s

    tags: dict[int, tuple[str, tuple]] = {}
    cur, shape = "x", (3, *(input_hw or ("H", "W")))  # (channels, rows, cols)
    for op, args, layer in _fold_affine_into_conv(bound):
        if op == "input":
            mean = np.array(layer.p["mean"], dtype=np.float32).reshape(1, 3, 1, 1)
            # input.h: (pixel - avg) / 256, in float.
            y = fresh("centred")
            nodes.append(helper.make_node("Sub", [cur, const(mean, "mean")], [y]))
            cur = fresh("scaled")
            nodes.append(helper.make_node("Mul", [y, const(np.array(1 / 256, np.float32), "scale")], [cur]))
        elif op == "con_4":
            p = layer.p
            y = fresh("conv")
            nodes.append(
                helper.make_node(
                    "Conv",
                    [cur, const(p["filters"], "w"), const(p["biases"], "b")],
                    [y],
                    kernel_shape=list(p["kernel"]),
                    strides=list(p["stride"]),
                    pads=[p["padding"][0], p["padding"][1], p["padding"][0], p["padding"][1]],
                )
            )
            cur = y
            if isinstance(shape[1], int):
                shape = (
                    p["num_filters"],
                    out_size(shape[1], p["kernel"][0], p["stride"][0], p["padding"][0]),
                    out_size(shape[2], p["kernel"][1], p["stride"][1], p["padding"][1]),
                )
            else:
                shape = (p["num_filters"], "H", "W")
        elif op == "affine_":
            k = layer.p["gamma"].size
            y = fresh("scaled")
            nodes.append(helper.make_node("Mul", [cur, const(layer.p["gamma"].reshape(1, k, 1, 1), "g")], [y]))
            cur = fresh("affine")
            nodes.append(helper.make_node("Add", [y, const(layer.p["beta"].reshape(1, k, 1, 1), "beta")], [cur]))
        elif op == "relu_":
            y = fresh("relu")
            nodes.append(helper.make_node("Relu", [cur], [y]))
            cur = y
        elif op in ("max_pool_2", "avg_pool_2"):
            p = layer.p
            y = fresh("pool")
            if p["kernel"] == (0, 0):  # avg_pool_everything
                nodes.append(helper.make_node("GlobalAveragePool", [cur], [y]))
                shape = (shape[0], 1, 1)
            else:
                pads = [p["padding"][0], p["padding"][1], p["padding"][0], p["padding"][1]]
                kw: dict[str, Any] = dict(kernel_shape=list(p["kernel"]), strides=list(p["stride"]), pads=pads)
                if op == "avg_pool_2":
                    # dlib averages over the window inside the image only.
                    kw["count_include_pad"] = 0
                nodes.append(helper.make_node("MaxPool" if op == "max_pool_2" else "AveragePool", [cur], [y], **kw))
                shape = (
                    shape[0],
                    out_size(shape[1], p["kernel"][0], p["stride"][0], p["padding"][0]),
                    out_size(shape[2], p["kernel"][1], p["stride"][1], p["padding"][1]),
                )
            cur = y
        elif op == "tag":
            tags[args["id"]] = (cur, shape)
        elif op == "skip":
            cur, shape = tags[args["id"]]
        elif op == "add_prev_":
            other, oshape = tags[args["id"]]
            # core layers.h add_prev_: the sum takes the larger size of each dimension and
            # treats the missing part of the smaller tensor as zeros.
            target = tuple(max(a, b) for a, b in zip(shape, oshape))
            a = _pad_to(cur, shape, target, nodes, const, fresh)
            b = _pad_to(other, oshape, target, nodes, const, fresh)
            cur = fresh("sum")
            nodes.append(helper.make_node("Add", [a, b], [cur]))
            shape = target
        elif op == "fc_2":
            p = layer.p
            flat = fresh("flat")
            nodes.append(helper.make_node("Flatten", [cur], [flat], axis=1))
            y = fresh("fc")
            nodes.append(helper.make_node("MatMul", [flat, const(p["weights"], "fcw")], [y]))
            if p["biases"] is not None:
                z = fresh("fcb")
                nodes.append(helper.make_node("Add", [y, const(p["biases"], "fcb")], [z]))
                y = z
            cur = y
            shape = (p["num_outputs"],)
        else:
            raise DlibFormatError(f"no ONNX mapping for {op}")
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    h, w = input_hw if input_hw else ("H", "W")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, h, w])
    out_shape = ["N", shape[0]] if outputs_flat else ["N", shape[0], "H_out", "W_out"]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, name, [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="facegate")
    model.ir_version = 8  # readable by older onnxruntime builds too
    onnx.checker.check_model(model)
    return model


def _fold_affine_into_conv(bound: list) -> list:
    """A conv followed by an affine is one conv with scaled filters and bias (what dlib's
    inference net computes, in one pass: fewer nodes and no second copy of the weights when
    onnxruntime would fuse them itself)."""
    out: list = []
    for op, args, layer in bound:
        if op == "affine_" and out and out[-1][0] == "con_4" and out[-1][2].p.get("_folded") is None:
            con_op, con_args, con = out[-1]
            g, b = layer.p["gamma"].astype(np.float64), layer.p["beta"].astype(np.float64)
            p = dict(con.p)
            p["filters"] = (con.p["filters"].astype(np.float64) * g[:, None, None, None]).astype(np.float32)
            p["biases"] = (con.p["biases"].astype(np.float64) * g + b).astype(np.float32)
            p["_folded"] = True
            out[-1] = (con_op, con_args, Layer(con.kind, p))
            continue
        out.append((op, args, layer))
    return out


def _pad_to(name: str, shape: tuple, target: tuple, nodes: list, const, fresh) -> str:
    if shape == target:
        return name
    from onnx import helper  # noqa: PLC0415 (onnx is needed only to convert the network)

    pads = [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]]
    y = fresh("padded")
    nodes.append(helper.make_node("Pad", [name, const(np.array(pads, dtype=np.int64), "pads")], [y]))
    return y
