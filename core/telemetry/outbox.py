"""The publisher's durable outbox (SQLite, WAL, synchronous=FULL).

A record is in the outbox before ``publish`` returns and leaves it only when the broker has
acknowledged it (PUBACK), so a broker outage or an app restart loses nothing; records
drain in the order they were accepted. Several processes may share one outbox (the app,
the Web API, the CLI): all of them add, one at a time drains (an exclusive ``flock``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from core.events.records import quotes_name
from core.storage.files import atomic_write_bytes, ensure_dir
from core.storage.sqlite import ThreadConnections

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    msg_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class Outbox:
    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._db = ThreadConnections(self.path)
        # Writers in this process queue here rather than in SQLite's busy handler, whose
        # back-off sleeps (up to 100 ms) stalled the stream under contention.
        self._write_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)
        self.path.chmod(0o600)
        self._lock_fd: int | None = None

    def _conn(self) -> sqlite3.Connection:
        return self._db.connection()

    def relax_sync_for_this_thread(self) -> None:
        """The sender's deletes need no fsync: a delete lost to a power cut only means the
        record is sent again, and the rule engine drops the duplicate by its id."""
        self._conn().execute("PRAGMA synchronous=NORMAL")

    def add(self, messages: list[tuple[str, str, bytes]]) -> None:
        """Durably add ``(msg_id, topic, payload)`` records, in order, in one transaction."""
        now = time.time()
        with self._write_lock, self._conn() as con:
            con.executemany(
                "INSERT OR IGNORE INTO outbox (msg_id, topic, payload, created) VALUES (?, ?, ?, ?)",
                [(m, t, p, now) for m, t, p in messages],
            )

    def after(self, seq: int, limit: int) -> list[tuple[int, str, str, bytes]]:
        """``(seq, msg_id, topic, payload)`` of the oldest records after ``seq``."""
        return (
            self._conn()
            .execute("SELECT seq, msg_id, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
            .fetchall()
        )

    def get(self, seqs: list[int]) -> list[tuple[int, str, str, bytes]]:
        marks = ",".join("?" * len(seqs))
        return (
            self._conn()
            .execute(f"SELECT seq, msg_id, topic, payload FROM outbox WHERE seq IN ({marks}) ORDER BY seq", seqs)
            .fetchall()
        )

    def remove(self, seqs: list[int]) -> None:
        """Forget acknowledged records."""
        with self._write_lock, self._conn() as con:
            con.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def refuse(self, seq: int, reason: str) -> None:
        """Move a record the broker refused (e.g. not authorised) aside, keeping it."""
        with self._write_lock, self._conn() as con:
            con.execute(
                "INSERT OR REPLACE INTO refused (msg_id, topic, payload, reason, at) "
                "SELECT msg_id, topic, payload, ?, ? FROM outbox WHERE seq = ?",
                (reason, time.time(), seq),
            )
            con.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def forget_person(self, name: str) -> int:
        """Drop the unsent and refused records whose ``Person`` is ``name`` (a forgotten person's
        record is not delivered later), then rewrite the file so that no sent or deleted record
        lingers in free pages or the WAL. Returns how many records were dropped."""
        # Escapes decoded: json_extract for JSON, every string literal for the rest (the logs
        # page's test form queues any bytes).
        person = (
            "CASE WHEN json_valid(CAST(payload AS TEXT)) THEN json_extract(CAST(payload AS TEXT), '$.Person') = ? "
            "ELSE quotes_name(CAST(payload AS TEXT), ?) END"
        )
        with self._write_lock:
            con = self._conn()
            con.create_function("quotes_name", 2, quotes_name, deterministic=True)
            with con:
                dropped = sum(
                    con.execute(f"DELETE FROM {table} WHERE {person}", (name, name)).rowcount
                    for table in ("outbox", "refused")
                )
            try:
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as exc:  # another process held it for 30 s
                log.warning(
                    "outbox not compacted after forgetting a person (%s); "
                    "sent records may linger in free pages until the next time",
                    exc,
                )
        return dropped

    # -- the sending process's connection, for the others' status ----------------------
    def write_sender_state(self, state: dict) -> None:
        atomic_write_bytes(Path(str(self.path) + ".sender.json"), json.dumps(state).encode())

    def sender_state(self) -> dict | None:
        try:
            return json.loads(Path(str(self.path) + ".sender.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        self._db.close()

    def depth(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def refused_count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM refused").fetchone()[0]

    # -- who drains ---------------------------------------------------------------------
    def try_become_drainer(self) -> bool:
        """Take the drain lock if no other live process holds it (released when we exit)."""
        if self._lock_fd is not None:
            return True
        fd = os.open(str(self.path) + ".drain.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._db.close()
