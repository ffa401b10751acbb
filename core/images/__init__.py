"""Image bytes: decoding untrusted JPEG/PNG with Rekognition's limits (``codec.py``) and
cutting one face out of a photo (``crop.py``)."""
