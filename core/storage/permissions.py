"""Checking and repairing owner-only permissions under the data directory (local biometric
data must be readable by its owner alone)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from core.storage.files import FILE_MODE


def owner_only_problems(data_dir: Path) -> list[str]:
    """Files and folders under ``data_dir`` that someone other than the owner can read, write or
    enter (local biometric data must be owner-only). Returns their paths; empty is good."""
    bad: list[str] = []
    root = Path(data_dir)
    if not root.exists():
        return bad
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
        except OSError:
            continue
        if path.is_symlink():
            continue
        if st.st_mode & 0o077:
            bad.append(str(path))
    return bad


def make_owner_only(data_dir: Path) -> int:
    """chmod every file under ``data_dir`` to owner-only (0600 files, 0700 folders). Returns
    how many were changed."""
    changed = 0
    for raw in owner_only_problems(data_dir):
        path = Path(raw)
        mode = 0o700 if path.is_dir() else FILE_MODE
        with contextlib.suppress(OSError):
            os.chmod(path, mode)
            changed += 1
    return changed
