from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def faces(tmp_path):
    """A fresh local Rekognition in a temp data dir (models are shared per process)."""
    from core.faces.local import LocalFaceCollections
    from core.objects.local import LocalObjectStore

    objects = LocalObjectStore(tmp_path / "objects")
    return LocalFaceCollections(tmp_path, objects=objects)


def img_bytes(path) -> dict:
    return {"Bytes": path.read_bytes()}


def encode(arr_or_img, fmt="JPEG", **kw) -> bytes:
    img = arr_or_img if isinstance(arr_or_img, Image.Image) else Image.fromarray(arr_or_img)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def blank_jpeg() -> bytes:
    """A real JPEG with no face in it (a smooth gradient)."""
    x = np.linspace(0, 255, 320, dtype=np.uint8)
    arr = np.stack([np.tile(x, (240, 1))] * 3, axis=-1)
    return encode(arr)
