"""API keys for the local Web API (API Gateway's ``x-api-key`` stand-in).

Keys are 40 random URL-safe characters; only their SHA-256 is stored, in
``<data dir>/apikeys.json`` (owner-only). A fast hash is enough because the keys are
random, not chosen by people: there is no dictionary to try. Checking compares against
every stored hash in constant time, and re-reads the file when it changes, so a key
revoked from the CLI stops working on the running server at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from core.errors import InvalidParameter, ResourceNotFound
from core.storage.files import atomic_write_bytes, ensure_dir

T = TypeVar("T")
KEY_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")


@dataclass(frozen=True)
class ApiKeyInfo:
    """What is kept about a key (never the key itself)."""

    key_id: str
    name: str
    created: str
    sha256: str
    revoked: str | None = None

    def public(self) -> dict:
        """For listings: everything but the hash."""
        out = asdict(self)
        out.pop("sha256")
        return out


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyStore:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "apikeys.json"
        self._lock = threading.Lock()
        self._cache: tuple[float, int, list[ApiKeyInfo]] | None = None

    # --- file ------------------------------------------------------------------------
    def _read(self) -> list[ApiKeyInfo]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        with self._lock:
            if self._cache and self._cache[:2] == (st.st_mtime, st.st_size):
                return self._cache[2]
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                keys = [ApiKeyInfo(**k) for k in raw.get("keys", [])]
            except (OSError, ValueError, TypeError) as exc:
                # A broken key file must lock everybody out, not let everybody in.
                raise InvalidParameter(f"{self.path} is not a valid key file: {exc}") from None
            self._cache = (st.st_mtime, st.st_size, keys)
            return keys

    def _update(self, change: Callable[[list[ApiKeyInfo]], tuple[list[ApiKeyInfo], T]]) -> T:
        """Apply ``change(keys) -> (keys, result)`` under a cross-process file lock."""
        ensure_dir(self.path.parent)
        lock_path = self.path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                self._cache = None
            keys, result = change(list(self._read()))
            atomic_write_bytes(self.path, json.dumps({"keys": [asdict(k) for k in keys]}, indent=2).encode())
            with self._lock:
                self._cache = None
            return result
        finally:
            os.close(fd)

    # --- operations ------------------------------------------------------------------
    def create(self, name: str = "default") -> tuple[ApiKeyInfo, str]:
        """Make a key. Returns (its record, the key); the key is shown once and not kept."""
        if not isinstance(name, str) or not KEY_NAME.match(name):
            raise InvalidParameter("key name must be 1-64 of A-Z a-z 0-9 _ . - and spaces")
        key = secrets.token_urlsafe(30)  # 40 characters; API Gateway wants at least 20
        info = ApiKeyInfo(
            key_id=secrets.token_hex(4),
            name=name,
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            sha256=_digest(key),
        )
        self._update(lambda keys: ([*keys, info], None))
        return info, key

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke by id. Returns the updated record; raises ResourceNotFound."""

        def change(keys):
            for i, k in enumerate(keys):
                if k.key_id == key_id:
                    if k.revoked is None:
                        keys[i] = ApiKeyInfo(
                            **{**asdict(k), "revoked": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
                        )
                    return keys, keys[i]
            raise ResourceNotFound(f"no API key with id {key_id!r}")

        return self._update(change)

    def list(self) -> list[ApiKeyInfo]:
        """Every key record, revoked ones included, oldest first."""
        return list(self._read())

    def verify(self, key: str | None) -> ApiKeyInfo | None:
        """The active key record matching ``key``, or None. Constant time per stored key."""
        if not key or not isinstance(key, str) or len(key) > 256:
            return None
        wanted = _digest(key)
        found = None
        for info in self._read():
            # Compare against every key so the time does not depend on where a match is.
            if hmac.compare_digest(info.sha256, wanted) and info.revoked is None:
                found = info
        return found
