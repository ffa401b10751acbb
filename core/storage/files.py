"""Small durable-file helpers shared by every local adapter."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
