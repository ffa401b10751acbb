"""The phone variant's image: a data URI or bare base64 string -> bytes.

Apart from ``codec.py`` because the Web API's Lambda functions need only this: importing numpy
and Pillow (what decoding pixels needs) would add to every cold start for nothing, since
Rekognition checks the image itself in the aws world.
"""

from __future__ import annotations

import base64
import binascii

from core.errors import InvalidImageFormat, InvalidParameter


def decode_base64_image(text: str) -> bytes:
    """The course's phone variant: a data URI or bare base64 (everything up to the first
    comma is dropped). Raises InvalidImageFormat when it is not base64."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter("image_base64str must be a non-empty string")
    payload = text.split(",", 1)[1] if "," in text else text
    payload = "".join(payload.split())
    try:
        return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            raise InvalidImageFormat("image_base64str is not valid base64") from None
