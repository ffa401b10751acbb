"""Hostile and unusual images: each gives a domain error or a correct answer, never a
traceback or a hang."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageTooLarge, InvalidImageFormat, InvalidParameter
from core.images.codec import decode_image
from core.images.dataurl import decode_base64_image
from tests.faces.conftest import encode


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def face_jpeg(labelled) -> bytes:
    return encode(Image.open(labelled["amy"][0]).convert("RGB").resize((300, 300)))


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", InvalidImageFormat),
        (b"not an image at all", InvalidImageFormat),
        (b"GIF89a" + b"\x00" * 100, InvalidImageFormat),
        (b"%PDF-1.4\n" + b"x" * 100, InvalidImageFormat),
        (_png_header_only(100_000, 100_000), ImageTooLarge),
        (_png_header_only(70_000, 10), InvalidImageFormat),  # under the pixel cap, but bogus data
        (b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024 + 1), ImageTooLarge),
    ],
)
def test_rejected_with_domain_error(faces, data, error):
    with pytest.raises(error):
        faces.detect_faces(Image={"Bytes": data})


def test_truncated_jpeg(faces, face_jpeg):
    with pytest.raises(InvalidImageFormat):
        faces.detect_faces(Image={"Bytes": face_jpeg[: len(face_jpeg) // 2]})


def test_gif_is_not_accepted_even_if_valid(faces, labelled):
    buf = io.BytesIO()
    Image.open(labelled["amy"][0]).save(buf, format="GIF")
    with pytest.raises(InvalidImageFormat):
        faces.detect_faces(Image={"Bytes": buf.getvalue()})


def test_polyglot_png_with_trailing_zip_still_reads_as_png(faces, labelled):
    data = labelled["amy"][0].read_bytes() + b"PK\x03\x04" + b"\x00" * 200
    assert len(faces.detect_faces(Image={"Bytes": data})["FaceDetails"]) == 1


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "LA", "P", "I;16"])
def test_colour_modes_still_find_the_face(faces, labelled, mode):
    img = Image.open(labelled["amy"][0]).convert("RGB").resize((300, 300))
    if mode == "I;16":
        arr = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(arr)
        assert img.mode.startswith("I")
        fmt = "PNG"
    else:
        img = img.convert(mode)
        fmt = "JPEG" if mode in ("L", "CMYK") else "PNG"
    out = faces.detect_faces(Image={"Bytes": encode(img, fmt)})
    assert len(out["FaceDetails"]) == 1, mode


def test_exif_orientation_is_honoured(faces, labelled):
    upright = Image.open(labelled["penny"][1]).convert("RGB").resize((300, 300))
    # Stored rotated on its side, with EXIF saying "rotate 90 CW to display" (orientation 6).
    stored = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    with_exif = encode(stored, "JPEG", exif=exif.tobytes())
    without_exif = encode(stored, "JPEG")
    assert len(faces.detect_faces(Image={"Bytes": with_exif})["FaceDetails"]) == 1
    assert len(faces.detect_faces(Image={"Bytes": without_exif})["FaceDetails"]) == 0


def test_tiny_image_is_an_error_not_a_crash(faces):
    with pytest.raises(InvalidImageFormat):
        faces.detect_faces(Image={"Bytes": encode(np.zeros((4, 4, 3), np.uint8), "PNG")})


@pytest.mark.parametrize("image", [None, "bytes", {"Bytes": "text"}, {"S3Object": {}}, {}])
def test_bad_image_argument(faces, image):
    with pytest.raises((InvalidParameter, InvalidImageFormat)):
        faces.detect_faces(Image=image)


def test_s3object_image_reads_the_object_store(faces, labelled):
    faces.objects.put_object("facegate-photos", "people/amy.png", labelled["amy"][0].read_bytes())
    out = faces.detect_faces(Image={"S3Object": {"Bucket": "facegate-photos", "Name": "people/amy.png"}})
    assert len(out["FaceDetails"]) == 1


@pytest.mark.parametrize(
    "text, ok",
    [
        ("data:image/jpeg;base64,/9j/4AAQ", True),
        ("/9j/4AAQ", True),
        ("/9j/4AAQ\n", True),
        ("", False),
        ("data:image/png;base64,!!!not base64!!!", False),
    ],
)
def test_base64_variants(text, ok):
    if ok:
        assert decode_base64_image(text).startswith(b"\xff\xd8\xff")
    else:
        with pytest.raises((InvalidImageFormat, InvalidParameter)):
            decode_base64_image(text)


def test_decode_rejects_non_bytes():
    with pytest.raises(InvalidImageFormat):
        decode_image("a string")
