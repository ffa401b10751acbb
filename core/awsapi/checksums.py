"""S3's flexible checksums (``x-amz-checksum-<algorithm>``), computed as bytes stream past.

Recent botocore sends a CRC32 (or CRC64NVME) with every upload, in a header or in an
aws-chunked trailer, and checks the one S3 returns on downloads. CRC32 comes from zlib;
CRC32C and CRC64NVME from awscrt (installed with the AWS IoT Device SDK; botocore uses the
same functions), SHA-1 and SHA-256 from hashlib.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Checksum:
    """A running checksum; ``value()`` is the base64 text S3 puts in ``x-amz-checksum-*``."""

    def __init__(self, algorithm: str):
        self.algorithm = algorithm.upper()
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown checksum algorithm {algorithm!r}")
        self._crc = 0
        # SHA1 because S3 offers it as a checksum the client chose, not for security.
        self._hash = hashlib.sha1() if self.algorithm == "SHA1" else hashlib.sha256()  # noqa: S324

    @property
    def header(self) -> str:
        return f"x-amz-checksum-{self.algorithm.lower()}"

    def update(self, data: bytes) -> None:
        if self.algorithm == "CRC32":
            self._crc = zlib.crc32(data, self._crc)
        elif self.algorithm == "CRC32C":
            from awscrt import checksums  # noqa: PLC0415 (awscrt is native and heavy: only for the CRCs a client asks for)

            self._crc = checksums.crc32c(data, self._crc)
        elif self.algorithm == "CRC64NVME":
            from awscrt import checksums  # noqa: PLC0415 (awscrt is native and heavy: only for the CRCs a client asks for)

            self._crc = checksums.crc64nvme(data, self._crc)
        else:
            self._hash.update(data)

    def digest(self) -> bytes:
        if self.algorithm in ("CRC32", "CRC32C"):
            return self._crc.to_bytes(4, "big")
        if self.algorithm == "CRC64NVME":
            return self._crc.to_bytes(8, "big")
        return self._hash.digest()

    def value(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


def requested(headers) -> list[tuple[str, str]]:
    """``(algorithm, base64 value)`` for every ``x-amz-checksum-<algorithm>`` header sent."""
    out = []
    for algorithm in ALGORITHMS:
        value = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value:
            out.append((algorithm, value.strip()))
    return out


def algorithm_of_header(name: str) -> str | None:
    """``x-amz-checksum-crc32`` -> ``CRC32``; anything else -> None."""
    name = name.strip().lower()
    if not name.startswith("x-amz-checksum-"):
        return None
    algorithm = name[len("x-amz-checksum-") :].upper()
    return algorithm if algorithm in ALGORITHMS else None
