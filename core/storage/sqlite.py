"""One SQLite connection per thread to one database file, in WAL mode.

SQLite connections must not be shared between threads unguarded, and opening one per call
costs a file open and two PRAGMAs; every local store (the event journal, the broker's
journal, the outbox, the sensor table, the device registry) keeps one per thread instead. WAL lets readers in other
threads and processes read while one writes; ``synchronous=FULL`` makes a commit survive power
loss, which what those stores acknowledge (QoS 1, an accepted record) relies on."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ThreadConnections:
    """``connection()`` returns this thread's connection to ``path`` (opened on first use)."""

    def __init__(self, path: Path, *, timeout: float = 30.0, synchronous: str = "FULL"):
        self.path = Path(path)
        self.timeout = timeout
        self.synchronous = synchronous
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=self.timeout)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.con = con
        return con

    def close(self) -> None:
        """Close this thread's connection (other threads keep theirs)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
