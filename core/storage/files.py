"""Small durable-file helpers shared by every local adapter."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

from core.errors import StorageFull

# Local files hold biometric data: owner-only by default.
FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents owner-only (``mkdir(parents=True)`` would give
    the parents the umask's mode, e.g. 0755). Returns ``path``."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # made meanwhile by another thread or process
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)  # raises the right error
    return path


def owner_only_umask() -> None:
    """Make every file this process creates from now on owner-only, including those that
    libraries create themselves (SQLite's -wal and -shm files, Parquet, certificates)."""
    os.umask(0o077)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a half-written one,
    even if the process is killed mid-write (temp file + fsync + rename)."""
    path = Path(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# --- a full disk, said as one error ------------------------------------------------------
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_NEARLY_FULL_BYTES = 1024 * 1024
_DISK_FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def storage_full(exc: BaseException, data_dir: Path | str | None = None) -> StorageFull | None:
    """The ``StorageFull`` that ``exc`` means, or None when it is not about a full disk: an
    OSError ENOSPC/EDQUOT anywhere in its chain, SQLite's SQLITE_FULL, a library's "No space
    left on device", and SQLite's generic "disk I/O error" when ``data_dir``'s file system has
    less than 1 MB free (SQLite says so when its WAL or shared memory cannot grow). The Web
    API answers it 503, the CLI and the pages say it plainly, instead of a 500 or a traceback."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageFull):
            return current
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(current, OSError) and current.errno in _DISK_FULL_ERRNOS:
            return _full(data_dir)
        if code is not None and code & 0xFF == _SQLITE_FULL:
            return _full(data_dir)
        if any(text in str(current).lower() for text in _DISK_FULL_TEXTS):
            return _full(data_dir)
        if code is not None and code & 0xFF == _SQLITE_IOERR and data_dir is not None:
            try:
                if shutil.disk_usage(data_dir).free < _NEARLY_FULL_BYTES:
                    return _full(data_dir)
            except OSError:
                pass
        current = current.__cause__ or current.__context__
    return None


def _full(data_dir) -> StorageFull:
    where = f" ({data_dir})" if data_dir is not None else ""
    return StorageFull(f"the disk holding FaceGate's data is full{where}: free some space and try again")
