"""Video frames as the WebRTC decoder gives them: I420 (YUV 4:2:0 planar), one uint8 array of
H*3/2 rows x W (the Y plane, then U and V at half size). Live works on I420 directly: the
detector reads the Y plane (greyscale, which HOG handles ~20 % faster than RGB) and overlays are
drawn into the planes, so the video thread never converts a frame to RGB and back (~4.5 ms a
640x480 frame). Only a frame that is identified becomes RGB, in a worker."""

from __future__ import annotations

import numpy as np


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """An even-sized HxWx3 RGB array as I420."""
    import cv2  # noqa: PLC0415

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def i420_to_rgb(yuv: np.ndarray) -> np.ndarray:
    import cv2  # noqa: PLC0415

    return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)


def size(yuv: np.ndarray) -> tuple[int, int]:
    """(width, height) of the picture."""
    return yuv.shape[1], yuv.shape[0] * 2 // 3


def planes(yuv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable views of the Y (HxW), U and V (H/2 x W/2) planes."""
    w, h = size(yuv)
    y = yuv[:h]
    u = yuv[h : h + h // 4].reshape(h // 2, w // 2)
    v = yuv[h + h // 4 :].reshape(h // 2, w // 2)
    return y, u, v


def yuv_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """An RGB colour in the video's YUV (BT.601, limited range: what browsers and libvpx use)."""
    r, g, b = (c / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)
