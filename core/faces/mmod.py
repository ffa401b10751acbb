"""dlib's MMOD CNN face detector (``mmod_human_face_detector.dat``, same wheel), run by
onnxruntime: the network rebuilt by ``core.faces.dlib_net``, the image pyramid and the
window decoding done here the way dlib's ``loss_mmod_`` does them.

Evaluated against HOG in ``bench/faces.py`` (detection recall table); not the default
detector (see docs/faces.md for the figures and why).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.faces import dlib_net

PYRAMID_STEP = 5 / 6  # pyramid_down<6>: each level is 5/6 of the one above


class MmodDetector:
    def __init__(self, dat_path: Path, threads: int = 2):
        import onnxruntime as ort  # noqa: PLC0415 (onnxruntime is heavy: loaded with the model, on first use)

        loss, entries = dlib_net.read_network(Path(dat_path).read_bytes())
        bound = dlib_net.bind(dlib_net.mmod_detector(), entries)
        self.window = loss.p["window"]  # (width, height) at the level where a face is found
        self.nms_iou, self.nms_covered = loss.p["nms_iou"], loss.p["nms_covered"]
        # Where an output cell's window centre lies in the level image (dlib's
        # map_output_to_input through every con_ layer: x * stride - padding + size / 2).
        self.offset, self.stride = 0.0, 1.0
        for op, _args, layer in reversed(bound):
            if op == "con_4":
                s, pad, k = layer.p["stride"][0], layer.p["padding"][0], layer.p["kernel"][0]
                self.offset, self.stride = self.offset * s - pad + k // 2, self.stride * s
        model = dlib_net.to_onnx(bound, None, "dlib_mmod", False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def detect(self, rgb: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> list[tuple]:
        """(left, top, right, bottom, score) in ``rgb`` pixels, best first, after dlib's
        non-max suppression. ``upsample`` doubles the image that many times first (finds
        faces of ~40 px instead of ~80)."""
        import cv2  # noqa: PLC0415 (cv2 is heavy: loaded with the model, on first use)

        h, w = rgb.shape[:2]
        scale = 2.0**upsample
        win_w, win_h = self.window
        found = []
        while min(h, w) * scale >= max(win_w, win_h):
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            level = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            x = level.astype(np.float32).transpose(2, 0, 1)[None]
            scores = self._session.run(None, {"x": np.ascontiguousarray(x)})[0][0, 0]
            for r, c in zip(*np.nonzero(scores > threshold)):
                cx = (c * self.stride + self.offset) / scale
                cy = (r * self.stride + self.offset) / scale
                hw, hh = win_w / 2 / scale, win_h / 2 / scale
                found.append((cx - hw, cy - hh, cx + hw, cy + hh, float(scores[r, c])))
            scale *= PYRAMID_STEP
        return self._nms(sorted(found, key=lambda d: -d[4]))

    def _nms(self, dets: list[tuple]) -> list[tuple]:
        kept: list[tuple] = []
        for d in dets:
            if not any(self._overlaps(d, k) for k in kept):
                kept.append(d)
        return kept

    def _overlaps(self, a, b) -> bool:
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        area_a = (a[2] - a[0]) * (a[3] - a[1])
        area_b = (b[2] - b[0]) * (b[3] - b[1])
        iou = inter / (area_a + area_b - inter)
        return iou > self.nms_iou or inter / min(area_a, area_b) > self.nms_covered
