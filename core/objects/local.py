"""Object store on disk: ``<data dir>/objects/<bucket>/<key>``, written atomically."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from core.config import BUCKET_PATTERN
from core.errors import InvalidParameter, ResourceNotFound
from core.objects.port import ObjectInfo, ObjectStore, check_key
from core.storage.files import atomic_write_bytes, ensure_dir


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path):
        self.root = ensure_dir(Path(root))

    def _bucket_dir(self, bucket: str) -> Path:
        if not BUCKET_PATTERN.match(bucket or ""):
            raise InvalidParameter(f"invalid bucket name: {bucket!r}")
        return self.root / bucket

    def _path(self, bucket: str, key: str) -> Path:
        path = self._bucket_dir(bucket) / check_key(key)
        # Belt and braces: the resolved path must stay inside the bucket.
        if not str(path.resolve()).startswith(str(self._bucket_dir(bucket).resolve()) + os.sep):
            raise InvalidParameter(f"invalid object key: {key!r}")
        return path

    def object_path(self, bucket: str, key: str) -> Path:
        """Where ``bucket/key`` lives on disk (the same checks as every other method).
        Raises InvalidParameter for a bad bucket name or key. For writers that stream
        (core.awsapi's S3): write a ``.tmp-*`` file beside it and rename it into place."""
        return self._path(bucket, key)

    def size_of(self, bucket: str, key: str) -> int | None:
        try:
            return self._path(bucket, key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            raise ResourceNotFound(f"no object {key!r} in bucket {bucket!r}") from None

    def put_object(self, bucket, key, data, content_type="application/octet-stream"):
        atomic_write_bytes(self._path(bucket, key), bytes(data))

    def get_object(self, bucket, key):
        try:
            return self._path(bucket, key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ResourceNotFound(f"no object s3://{bucket}/{key}") from None

    def delete_object(self, bucket, key):
        path = self._path(bucket, key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        # Drop empty folders left behind so listings stay cheap.
        parent, top = path.parent, self._bucket_dir(bucket)
        while parent != top:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list_objects(self, bucket, prefix=""):
        top = self._bucket_dir(bucket)
        if not top.is_dir():
            return []
        # Walk only the folder the prefix names, not the whole bucket.
        start = top / prefix.rsplit("/", 1)[0] if "/" in prefix else top
        out = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(top).as_posix()
                if key.startswith(prefix):
                    st = full.stat()
                    out.append(ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
        return sorted(out, key=lambda o: o.key)

    def exists(self, bucket, key):
        return self._path(bucket, key).is_file()

    def sweep_interrupted_writes(self, older_than_s: float = 600) -> int:
        # atomic_write_bytes leaves ``.tmp-*`` when killed between writing and renaming; a live
        # writer's temp file is seconds old, so only old ones are removed.
        cutoff = time.time() - older_than_s
        n = 0
        for path in self.root.rglob(".tmp-*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    n += 1
            except OSError:
                continue
        return n
