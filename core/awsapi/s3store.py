"""S3's view of the local object store: buckets, object metadata, streamed writes, multipart.

Objects stay where the app keeps them (``<data dir>/objects/<bucket>/<key>``, through
``LocalObjectStore``), so a photo uploaded with ``aws s3 cp`` is the file the app reads and the
other way round. What S3 has and a file has not (ETag, Content-Type, ``x-amz-meta-*``,
checksums, bucket creation dates, unfinished multipart uploads) is kept beside them in
``<data dir>/aws/s3.db`` (SQLite), keyed by the file's size and modification time: when the
app rewrites a file, its stale row is ignored and the ETag is computed again (MD5, as S3's
for single-part objects) and cached.

A file system cannot hold both ``a`` and ``a/b``, nor keys with empty segments (``a//b``)
distinct from ``a/b``; such keys are refused with InvalidArgument rather than aliased.
Uploads are written to a ``.tmp-*`` file beside the target and renamed into place, so a
reader sees the old object or the new one, never half of one; the object store's sweep
removes temp files a killed process left behind.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import mimetypes
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.awsapi.errors import AwsError
from core.config import BUCKET_PATTERN
from core.errors import InvalidParameter
from core.objects.port import check_key
from core.storage.files import ensure_dir

DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 stores when none is given
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PARTS = 10_000
STALE_UPLOAD_S = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    etag TEXT NOT NULL, content_type TEXT, meta TEXT, checksum TEXT,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
    content_type TEXT, meta TEXT, checksum_algorithm TEXT, owner TEXT
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    checksum TEXT, modified REAL NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
"""


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> AwsError:
    return AwsError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        UploadId=upload_id,
    )


@dataclass
class ObjectMeta:
    key: str
    size: int
    modified: datetime
    etag: str  # with its quotes, as S3 sends it
    content_type: str
    metadata: dict = field(default_factory=dict)
    checksum: dict = field(default_factory=dict)  # {"CRC32": "base64"} for single-part uploads


def check_bucket_name(bucket: str) -> str:
    if not isinstance(bucket, str) or not BUCKET_PATTERN.match(bucket) or ".." in bucket:
        raise AwsError("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=bucket)
    return bucket


def check_object_key(key: str) -> str:
    """A key this store can hold as a file, or AwsError (KeyTooLongError, InvalidArgument)."""
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise AwsError("KeyTooLongError", "Your key is too long", 400)
    try:
        check_key(key)
    except InvalidParameter:
        raise AwsError(
            "InvalidArgument",
            "FaceGate's local S3 cannot store this key: it must not start with '/', hold '\\', "
            "control characters or '.'/'..' segments.",
            400,
            ArgumentName="key",
        ) from None
    if "//" in key or key.endswith("/"):
        raise AwsError(
            "InvalidArgument",
            "FaceGate's local S3 keeps objects as files, so a key cannot end with '/' or hold an empty segment ('//').",
            400,
            ArgumentName="key",
        )
    return key


class S3Store:
    def __init__(self, objects, state_dir: Path):
        self.objects = objects  # a LocalObjectStore
        self.root = Path(objects.root)
        self.state_dir = ensure_dir(Path(state_dir))
        self.uploads_dir = ensure_dir(self.state_dir / "uploads")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.state_dir / "s3.db", check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _sql(self, sql: str, args=()) -> list:
        with self._lock, self._db:
            return self._db.execute(sql, args).fetchall()

    # --- buckets ---------------------------------------------------------------------
    def bucket_dir(self, bucket: str) -> Path:
        return self.root / check_bucket_name(bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            return self.bucket_dir(bucket).is_dir()
        except AwsError:
            return False

    def require_bucket(self, bucket: str) -> Path:
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise no_such_bucket(bucket)
        return path

    def list_buckets(self) -> list[tuple[str, datetime]]:
        created = dict(self._sql("SELECT name, created FROM buckets"))
        out = []
        with contextlib.suppress(FileNotFoundError):
            for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
                if entry.is_dir() and BUCKET_PATTERN.match(entry.name) and not entry.name.startswith("."):
                    when = created.get(entry.name) or entry.stat().st_mtime
                    out.append((entry.name, datetime.fromtimestamp(when, UTC)))
        return out

    def create_bucket(self, bucket: str) -> bool:
        """Make ``bucket``; False when it already existed."""
        path = self.bucket_dir(bucket)
        if path.is_dir():
            return False
        ensure_dir(path)
        self._sql("INSERT OR REPLACE INTO buckets (name, created) VALUES (?, ?)", (bucket, time.time()))
        return True

    def delete_bucket(self, bucket: str) -> None:
        path = self.require_bucket(bucket)
        if self.objects.list_objects(bucket, ""):
            raise AwsError("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=bucket)
        shutil.rmtree(path)  # only empty folders (and stale .tmp- files) are left
        self._sql("DELETE FROM buckets WHERE name = ?", (bucket,))
        self._sql("DELETE FROM objects WHERE bucket = ?", (bucket,))

    # --- objects ---------------------------------------------------------------------
    def object_path(self, bucket: str, key: str) -> Path:
        self.require_bucket(bucket)
        check_object_key(key)
        try:
            return self.objects.object_path(bucket, key)
        except InvalidParameter:
            raise AwsError("InvalidArgument", f"invalid object key: {key!r}", 400, ArgumentName="key") from None

    def head(self, bucket: str, key: str) -> ObjectMeta:
        """The object's metadata; AwsError NoSuchBucket / NoSuchKey."""
        path = self.object_path(bucket, key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise no_such_key(key) from None
        if not path.is_file():
            raise no_such_key(key)
        rows = self._sql(
            "SELECT size, mtime_ns, etag, content_type, meta, checksum FROM objects WHERE bucket = ? AND key = ?",
            (bucket, key),
        )
        modified = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
        if rows and rows[0][0] == st.st_size and rows[0][1] == st.st_mtime_ns:
            size, _m, etag, ctype, meta, checksum = rows[0]
            return ObjectMeta(
                key,
                size,
                modified,
                etag,
                ctype or DEFAULT_CONTENT_TYPE,
                json.loads(meta or "{}"),
                json.loads(checksum or "{}"),
            )
        # Written by the app (or rewritten since): S3's defaults, the ETag computed once.
        etag = f'"{_md5_file(path)}"'
        ctype = mimetypes.guess_type(key)[0] or DEFAULT_CONTENT_TYPE
        self._remember(bucket, key, st, etag, ctype, {}, {})
        return ObjectMeta(key, st.st_size, modified, etag, ctype)

    def _remember(self, bucket, key, st, etag, ctype, meta, checksum) -> None:
        self._sql(
            "INSERT OR REPLACE INTO objects (bucket, key, size, mtime_ns, etag, content_type, meta, checksum) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (bucket, key, st.st_size, st.st_mtime_ns, etag, ctype, json.dumps(meta), json.dumps(checksum)),
        )

    def new_temp(self, bucket: str, key: str):
        """An open owner-only temp file beside where ``key`` will live: ``(file, path)``."""
        path = self.object_path(bucket, key)
        try:
            ensure_dir(path.parent)
        except (NotADirectoryError, FileExistsError):
            raise _key_conflict(key) from None
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        return os.fdopen(fd, "wb"), Path(tmp)

    def commit(self, bucket, key, tmp: Path, *, etag, content_type, metadata, checksum) -> ObjectMeta:
        """Rename ``tmp`` (already fsynced by the caller) into place and record its metadata."""
        path = self.object_path(bucket, key)
        try:
            os.replace(tmp, path)
        except (IsADirectoryError, NotADirectoryError):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise _key_conflict(key) from None
        _fsync_dir(path.parent)
        st = path.stat()
        self._remember(bucket, key, st, etag, content_type, metadata, checksum)
        return ObjectMeta(
            key, st.st_size, datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC), etag, content_type, metadata, checksum
        )

    def discard(self, tmp: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

    def delete(self, bucket: str, key: str) -> None:
        """Delete (absent keys are not an error, as in S3)."""
        self.require_bucket(bucket)
        try:
            check_object_key(key)
        except AwsError:
            return  # such a key cannot exist here
        self.objects.delete_object(bucket, key)
        self._sql("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))

    def list(self, bucket: str, prefix: str = ""):
        """ObjectInfo of every key starting with ``prefix``, sorted (as S3 sorts: by UTF-8)."""
        self.require_bucket(bucket)
        return self.objects.list_objects(bucket, prefix)

    # --- multipart ---------------------------------------------------------------------
    def create_upload(self, bucket, key, content_type, metadata, checksum_algorithm, owner) -> str:
        self.object_path(bucket, key)  # bucket exists, key is storable
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex
        ensure_dir(self.uploads_dir / upload_id)
        self._sql(
            "INSERT INTO uploads (upload_id, bucket, key, initiated, content_type, meta, checksum_algorithm, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (upload_id, bucket, key, time.time(), content_type, json.dumps(metadata), checksum_algorithm, owner),
        )
        return upload_id

    def upload(self, bucket: str, key: str, upload_id: str) -> dict:
        rows = self._sql(
            "SELECT initiated, content_type, meta, checksum_algorithm, owner FROM uploads "
            "WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key),
        )
        if not rows:
            raise no_such_upload(upload_id)
        initiated, ctype, meta, algorithm, owner = rows[0]
        return {
            "initiated": datetime.fromtimestamp(initiated, UTC),
            "content_type": ctype,
            "metadata": json.loads(meta or "{}"),
            "checksum_algorithm": algorithm,
            "owner": owner,
        }

    def part_temp(self, upload_id: str):
        folder = ensure_dir(self.uploads_dir / upload_id)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        return os.fdopen(fd, "wb"), Path(tmp)

    def commit_part(self, upload_id: str, number: int, tmp: Path, size: int, etag: str, checksum: dict) -> None:
        os.replace(tmp, self.uploads_dir / upload_id / str(number))
        self._sql(
            "INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, checksum, modified) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, number, size, etag, json.dumps(checksum), time.time()),
        )

    def parts(self, upload_id: str) -> builtins.list[tuple[int, int, str, dict, datetime]]:
        rows = self._sql(
            "SELECT part_number, size, etag, checksum, modified FROM parts WHERE upload_id = ? ORDER BY part_number",
            (upload_id,),
        )
        return [(n, s, e, json.loads(c or "{}"), datetime.fromtimestamp(m, UTC)) for n, s, e, c, m in rows]

    def list_uploads(self, bucket: str) -> builtins.list[tuple[str, str, datetime]]:
        rows = self._sql(
            "SELECT upload_id, key, initiated FROM uploads WHERE bucket = ? ORDER BY key, initiated", (bucket,)
        )
        return [(u, k, datetime.fromtimestamp(t, UTC)) for u, k, t in rows]

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, wanted: builtins.list[tuple[int, str]]
    ) -> ObjectMeta:
        """Join the listed parts (number, ETag) into the object. Raises InvalidPart,
        InvalidPartOrder, EntityTooSmall, NoSuchUpload."""
        info = self.upload(bucket, key, upload_id)
        have = {n: (s, e, c) for n, s, e, c, _m in self.parts(upload_id)}
        if not wanted:
            raise AwsError(
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our published schema",
                400,
            )
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise AwsError(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
                400,
            )
        for i, (number, etag) in enumerate(wanted):
            if number not in have or have[number][1].strip('"') != etag.strip().strip('"'):
                raise AwsError(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not have been uploaded, "
                    "or the specified entity tag may not match the part's entity tag.",
                    400,
                    PartNumber=str(number),
                    ETag=etag,
                )
            if i < len(wanted) - 1 and have[number][0] < MIN_PART_BYTES:
                raise AwsError(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    400,
                    PartNumber=str(number),
                    MinSizeAllowed=str(MIN_PART_BYTES),
                )
        fh, tmp = self.new_temp(bucket, key)
        md5s = hashlib.md5()  # noqa: S324 - S3's multipart ETag is defined with MD5
        try:
            with fh:
                for number, _etag in wanted:
                    with open(self.uploads_dir / upload_id / str(number), "rb") as part:
                        shutil.copyfileobj(part, fh, 1024 * 1024)
                    md5s.update(bytes.fromhex(have[number][1].strip('"')))
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            self.discard(tmp)
            raise
        etag = f'"{md5s.hexdigest()}-{len(wanted)}"'
        meta = self.commit(
            bucket,
            key,
            tmp,
            etag=etag,
            content_type=info["content_type"] or DEFAULT_CONTENT_TYPE,
            metadata=info["metadata"],
            checksum={},
        )
        self.abort_upload(bucket, key, upload_id)
        return meta

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self.upload(bucket, key, upload_id)
        shutil.rmtree(self.uploads_dir / upload_id, ignore_errors=True)
        self._sql("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
        self._sql("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

    def sweep_stale_uploads(self, older_than_s: float = STALE_UPLOAD_S) -> int:
        """Abort multipart uploads nobody finished within ``older_than_s`` (their parts may hold
        face photos). Returns how many."""
        rows = self._sql(
            "SELECT upload_id, bucket, key FROM uploads WHERE initiated < ?", (time.time() - older_than_s,)
        )
        for upload_id, bucket, key in rows:
            with contextlib.suppress(AwsError):
                self.abort_upload(bucket, key, upload_id)
        return len(rows)


def _key_conflict(key: str) -> AwsError:
    return AwsError(
        "InvalidArgument",
        f"FaceGate's local S3 keeps objects as files and folders: {key!r} clashes with an existing object "
        "or folder of the same name (S3 could hold both 'a' and 'a/b'; a file system cannot).",
        400,
        ArgumentName="key",
    )


def _md5_file(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - S3's ETag is the MD5 of the content
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
