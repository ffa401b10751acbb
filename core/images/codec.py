"""Decoding untrusted image bytes into RGB arrays, with Rekognition's limits.

Every failure is a domain error: ``ImageTooLarge`` for bytes over 5 MB or more pixels than
we will decode, ``InvalidImageFormat`` for anything that is not a whole JPEG or PNG.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import ImageTooLarge, InvalidImageFormat, InvalidParameter, InvalidS3Object, ResourceNotFound

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # Rekognition's limit for image bytes
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024  # Rekognition's limit for an image it reads from S3
MAX_PIXELS = 40_000_000  # ~ a 48 MP phone photo; beyond it decoding alone costs >120 MB
MIN_SIDE = 16
FORMATS = ("JPEG", "PNG")
# What the app accepts from a phone's gallery (a 12 MP photo is typically 4-8 MB) before it
# shrinks the photo; Rekognition's own 5 MB stays the limit of the Web API contract itself.
MAX_UPLOAD_BYTES = 40 * 1024 * 1024
# The long side photos are shrunk to before identification: the local engine works on at most
# 1024 px anyway, and 1920 px keeps the faces of a group photo large enough for Rekognition.
PHOTO_MAX_SIDE = 1920


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # HxWx3 uint8, EXIF orientation applied
    format: str

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def decode_image(data: bytes, max_bytes: int = MAX_IMAGE_BYTES) -> DecodedImage:
    """Decode JPEG/PNG bytes to RGB. Raises ImageTooLarge or InvalidImageFormat."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImageFormat("image must be bytes")
    if len(data) == 0:
        raise InvalidImageFormat("image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(bytes(data)), formats=FORMATS)
            if img.width * img.height > MAX_PIXELS:
                raise ImageTooLarge(f"image is {img.width}x{img.height} pixels; the limit is {MAX_PIXELS} pixels")
            if min(img.width, img.height) < MIN_SIDE:
                raise InvalidImageFormat(
                    f"image is {img.width}x{img.height}; each side must be at least {MIN_SIDE} pixels"
                )
            fmt = img.format or ""
            img.load()  # truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
            arr = np.asarray(img, dtype=np.uint8)
    except (ImageTooLarge, InvalidImageFormat):
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageTooLarge("image has too many pixels to decode safely") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
        raise InvalidImageFormat(f"not a valid JPEG or PNG image ({type(exc).__name__})") from None
    except MemoryError:
        raise ImageTooLarge("image is too large to decode") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidImageFormat("could not convert image to RGB")
    return DecodedImage(np.ascontiguousarray(arr), fmt)


def prepare_photo(image: bytes) -> tuple[bytes, DecodedImage]:
    """The photo as identification takes it: a JPEG at most PHOTO_MAX_SIDE pixels on its long
    side and within Rekognition's 5 MB, with its decoded pixels. A JPEG that already fits is
    kept byte for byte. Raises ImageTooLarge (over MAX_UPLOAD_BYTES or 40 MP) and
    InvalidImageFormat."""
    decoded = decode_image(image, max_bytes=MAX_UPLOAD_BYTES)
    fits = decoded.format == "JPEG" and len(image) <= MAX_IMAGE_BYTES
    if fits and max(decoded.width, decoded.height) <= PHOTO_MAX_SIDE:
        return image, decoded
    quality = 90
    photo = encode_jpeg(decoded.rgb, quality=quality, max_side=PHOTO_MAX_SIDE)
    while len(photo) > MAX_IMAGE_BYTES and quality > 50:  # only noise-like photos get here
        quality -= 15
        photo = encode_jpeg(decoded.rgb, quality=quality, max_side=PHOTO_MAX_SIDE)
    return photo, decode_image(photo)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping to white.
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() or 1.0
        img = Image.fromarray((arr * (255.0 / peak)).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


class ObjectReader(Protocol):
    """What ``image_bytes`` needs of an object store (``core.objects.port.ObjectStore``)."""

    def get_object(self, bucket: str, key: str) -> bytes: ...

    def size_of(self, bucket: str, key: str) -> int | None: ...


def image_bytes(image: dict, objects: ObjectReader | None = None) -> bytes:
    """Resolve a Rekognition ``Image`` argument (``Bytes`` or ``S3Object``) to bytes. Raises
    InvalidParameter for a malformed argument, InvalidS3Object when the object is not there."""
    if not isinstance(image, dict):
        raise InvalidParameter("Image must be {'Bytes': ...} or {'S3Object': {...}}")
    if "Bytes" in image:
        return image["Bytes"]
    s3 = image.get("S3Object")
    if isinstance(s3, dict) and s3.get("Bucket") and s3.get("Name"):
        if objects is None:
            raise InvalidParameter("S3Object images need an object store")
        try:
            size = objects.size_of(s3["Bucket"], s3["Name"])  # refuse a huge file before reading it
            if size is not None and size > MAX_S3_IMAGE_BYTES:
                raise ImageTooLarge(
                    f"the S3 object is over Rekognition's {MAX_S3_IMAGE_BYTES} byte limit for S3 images"
                )
            return objects.get_object(s3["Bucket"], s3["Name"])
        except (ResourceNotFound, InvalidParameter, FileNotFoundError, NotADirectoryError):
            raise InvalidS3Object(
                f"Unable to get object metadata from S3: no object {s3['Name']!r} in bucket {s3['Bucket']!r}"
            ) from None
    raise InvalidParameter("Image must be {'Bytes': ...} or {'S3Object': {'Bucket', 'Name'}}")


def image_limit(image) -> int:
    """Rekognition's byte limit for this ``Image`` argument: 15 MB read from S3, else 5 MB."""
    return (
        MAX_S3_IMAGE_BYTES
        if isinstance(image, dict) and "S3Object" in image and "Bytes" not in image
        else MAX_IMAGE_BYTES
    )


def encode_jpeg(rgb: np.ndarray, quality: int = 88, max_side: int | None = None) -> bytes:
    """Re-encode an RGB array as JPEG (for thumbnails and stored captures)."""
    img = Image.fromarray(rgb)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
