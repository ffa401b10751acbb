"""The fuzz corpus: hostile files, bodies and names, generated in memory (nothing is stored).

Each entry is ``(name, bytes)``. ``face_jpeg`` is a real face photo (for truncations and
polyglots built from a valid image); everything else is made here from first principles.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and carries almost no pixels: a
    decompression bomb must be refused from the header, before anything is allocated."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_bomb(side: int = 7_000) -> bytes:
    """A real, fully-decodable PNG of side x side black pixels (49 MP, 147 MB decoded) that
    compresses to ~0.15 MB."""
    row = b"\x00" * (1 + side * 3)
    comp = zlib.compressobj(9)
    raw = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def jpeg_huge_dimensions(jpeg: bytes, width: int = 65_000, height: int = 65_000) -> bytes:
    """``jpeg`` with its SOF marker rewritten to claim ``width`` x ``height``."""
    data = bytearray(jpeg)
    i = 2
    while i < len(data) - 9:
        if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            return bytes(data)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0] if data[i] == 0xFF else 1
    raise ValueError("no SOF marker")


def _encode(fmt: str, size=(64, 64), mode="RGB", **kw) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (120, 90, 60) if mode == "RGB" else 0).save(buf, format=fmt, **kw)
    return buf.getvalue()


def bad_images(face_jpeg: bytes) -> list[tuple[str, bytes]]:
    """Files that must each get a clear domain error (never a crash, never a 500)."""
    zip_tail = b"PK\x03\x04" + b"\x00" * 26 + b"evil.sh" + b"#!/bin/sh\nrm -rf /\n"
    return [
        ("zero-byte.jpg", b""),
        ("one-byte.jpg", b"\xff"),
        ("truncated-half.jpg", face_jpeg[: len(face_jpeg) // 2]),
        ("truncated-header.jpg", face_jpeg[:40]),
        ("truncated.png", _encode("PNG")[:60]),
        ("huge-dimensions.png", png_header_only(100_000, 100_000)),
        ("huge-dimensions.jpg", jpeg_huge_dimensions(face_jpeg)),
        ("zero-dimensions.png", png_header_only(0, 0)),
        ("decompression-bomb.png", png_bomb()),
        ("tiny-1x1.png", _encode("PNG", (1, 1))),
        ("wrong-type.gif", _encode("GIF", mode="P")),
        ("wrong-type.webp", _encode("WEBP")),
        ("wrong-type.bmp", _encode("BMP")),
        ("wrong-type.tiff", _encode("TIFF")),
        ("wrong-type.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
        ("wrong-type.txt", "名前: Taro\n".encode()),
        ("wrong-type.html", b"<html><script>alert(1)</script></html>"),
        ("wrong-type.elf", b"\x7fELF\x02\x01\x01" + b"\x00" * 57),
        ("jpeg-magic-then-garbage.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8),
        ("png-magic-then-garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200),
        ("polyglot-gif-html.gif", b"GIF89a/*<html><script>alert(1)</script>*/=1;"),
        ("polyglot-png-zip.png", _encode("PNG", (8, 8)) + zip_tail),
        ("oversize-6mb.jpg", face_jpeg + b"\x00" * (6 * 1024 * 1024)),
    ]


def polyglot_jpeg_zip(face_jpeg: bytes) -> bytes:
    """A valid JPEG with a ZIP archive appended: decodes as the JPEG (a real photo), the
    trailer is ignored; it must be treated as a photo, nothing else."""
    return face_jpeg + b"PK\x03\x04" + b"\x00" * 26 + b"payload"


# --- Web API bodies -------------------------------------------------------------------------
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def bad_bodies(face_jpeg: bytes) -> list[tuple[str, bytes]]:
    """Request bodies for POST /search and /analyze that must each be a 4xx with a reason."""
    good = b64(face_jpeg)

    def with_image(extra: str) -> bytes:
        return ('{"image_base64str": "' + good + '"' + extra + "}").encode()

    return [
        ("empty", b""),
        ("not-json", b"this is not json"),
        ("truncated-json", b'{"image_base64str": "abc'),
        ("json-array", b"[1, 2, 3]"),
        ("json-string", b'"just a string"'),
        ("json-null", b"null"),
        ("json-number", b"12"),
        ("deep-nesting", b"[" * 100_000 + b"]" * 100_000),
        ("nul-bytes", b'{"image_base64str": "\x00\x00"}'),
        ("invalid-utf8", b'{"image_base64str": "\xff\xfe\xfd"}'),
        ("no-image", b'{"threshold": 80}'),
        ("image-wrong-type", b'{"image_base64str": 12345}'),
        ("image-list", b'{"image_base64str": ["a", "b"]}'),
        ("bad-base64", b'{"image_base64str": "!!!not base64!!!"}'),
        ("base64-bad-padding", b'{"image_base64str": "QUJDRA="}'),
        ("data-uri-no-payload", b'{"image_base64str": "data:image/jpeg;base64,"}'),
        ("base64-of-text", ('{"image_base64str": "' + b64(b"hello world") + '"}').encode()),
        ("threshold-string", with_image(', "threshold": "high"')),
        ("threshold-negative", with_image(', "threshold": -5')),
        ("threshold-huge", with_image(', "threshold": 1e309')),
        ("threshold-nan", with_image(', "threshold": NaN')),
        ("threshold-bool", with_image(', "threshold": true')),
        ("file-name-traversal", b'{"file_name": "../../../etc/passwd", "bucket_name": "facegate-photos"}'),
        ("file-name-absolute", b'{"file_name": "/etc/passwd", "bucket_name": "facegate-photos"}'),
        ("file-name-dotdot-encoded", b'{"file_name": "..%2f..%2fetc%2fpasswd", "bucket_name": "facegate-photos"}'),
        (
            "file-name-unicode",
            '{"file_name": "写真/../../ｅｔｃ/passwd\u202e.jpg", "bucket_name": "facegate-photos"}'.encode(),
        ),
        ("file-name-nul", b'{"file_name": "a.jpg\\u0000.png", "bucket_name": "facegate-photos"}'),
        ("file-name-huge", ('{"file_name": "' + "a" * 5000 + '", "bucket_name": "facegate-photos"}').encode()),
        ("bucket-traversal", b'{"file_name": "a.jpg", "bucket_name": "../faces"}'),
        ("bucket-other", b'{"file_name": "people/amy/x.jpg", "bucket_name": "facegate-faces"}'),
        ("file-name-wrong-type", b'{"file_name": {"a": 1}, "bucket_name": "facegate-photos"}'),
    ]


# --- names (ExternalImageId, person names) --------------------------------------------------
BAD_NAMES = [
    "",
    " ",
    "../../etc/passwd",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/abs",
    "名前",
    "Ｔａｒｏ",
    "Taro\u202eoraT",
    "Taro\x00",
    "Taro\nYamada",
    "<script>alert(1)</script>",
    "a" * 256,
    "Taro;rm -rf /",
    "%2e%2e%2f",
    "people/amy",
    "😀",
]
