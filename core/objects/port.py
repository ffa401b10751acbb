"""Object storage port (S3-like): buckets of byte objects addressed by key."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidParameter

# S3 allows almost anything in a key; we refuse what would escape a folder locally
# or confuse a reader (traversal, absolute paths, control characters).
_BAD_KEY = re.compile(r"(^/|\\|(^|/)\.\.?(/|$)|[\x00-\x1f\x7f])")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe object key, else raise ``InvalidParameter``."""
    if not isinstance(key, str) or not key or len(key.encode()) > 1024 or _BAD_KEY.search(key):
        raise InvalidParameter(f"invalid object key: {key!r}")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


class ObjectStore(abc.ABC):
    """Buckets are created on demand locally and by ``deploy/`` in AWS."""

    @abc.abstractmethod
    def put_object(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store ``data`` under ``bucket/key`` atomically (replacing any object there)."""

    @abc.abstractmethod
    def get_object(self, bucket: str, key: str) -> bytes:
        """Return the bytes; raises ``ResourceNotFound`` when absent."""

    @abc.abstractmethod
    def delete_object(self, bucket: str, key: str) -> None:
        """Delete; deleting an absent key is not an error (as in S3)."""

    @abc.abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, sorted by key."""

    def size_of(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes when the store knows it without reading the object, else
        None (S3 would need a request; callers then read and check). Raises ResourceNotFound
        when a store that knows says the object is not there."""
        return None

    def exists(self, bucket: str, key: str) -> bool:
        return any(o.key == key for o in self.list_objects(bucket, key))

    def sweep_interrupted_writes(self, older_than_s: float = 600) -> int:
        """Delete what writes killed halfway left behind (they may hold face photos). Returns
        how many; S3 uploads are atomic, so by default there is nothing to sweep."""
        return 0
