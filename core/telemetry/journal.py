"""The rule engine's durable journal: every accepted message, in arrival order, before it
is acknowledged (SQLite in WAL mode, ``<data dir>/telemetry/journal.db``).

It is also where the engine keeps its progress (a cursor), the Firehose-like buffer, the
error store, and what the logs page tails. Keeping all of these in one database lets the
engine advance its cursor, record errors and buffer analysis records in one transaction,
which is what makes a kill -9 at any point safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.events.records import quotes_name as _quotes_name
from core.storage.files import ensure_dir
from core.storage.sqlite import ThreadConnections

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    client_id TEXT,
    ts_ms INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_by_topic ON journal(topic, seq);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS topic_clock (topic TEXT PRIMARY KEY, last_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    seq INTEGER UNIQUE,
    topic TEXT,
    client_id TEXT,
    msg_id TEXT,
    reason TEXT NOT NULL,
    payload_preview TEXT
);
CREATE TABLE IF NOT EXISTS stream_buffer (
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS stream_batches (
    stream TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stream, first_seq)
);
"""

PREVIEW_CHARS = 300


@dataclass(frozen=True)
class JournalEntry:
    """One stored message. ``ts_ms`` is the receipt time, unique per topic, so that
    ``${timestamp()}`` object keys never collide and replay gives the same key."""

    seq: int
    msg_id: str
    topic: str
    client_id: str | None
    ts_ms: int
    payload: bytes


def preview(payload: bytes) -> str:
    return payload[:PREVIEW_CHARS].decode("utf-8", errors="replace")


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = ThreadConnections(self.path)
        # Writers in this process queue here rather than in SQLite's busy handler, whose
        # back-off sleeps (up to 100 ms) stalled the stream under contention.
        self._write_lock = threading.Lock()
        self._clock: dict[str, int] | None = None
        ensure_dir(self.path.parent)
        self._conn().executescript(_SCHEMA)
        self.path.chmod(0o600)

    def _conn(self) -> sqlite3.Connection:
        return self._db.connection()

    def relax_sync_for_this_thread(self) -> None:
        """The rule engine's progress needs no fsync: a cursor move lost to a power cut only
        replays the last batch, and every action is idempotent. (Appends, which the broker
        acknowledges, stay fully synchronous on the broker's own thread.)"""
        self._conn().execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self._db.close()

    # -- writing (the broker's ingest thread) -----------------------------------------
    def append(self, messages) -> int:
        """Store ``messages`` (objects with topic, payload, client_id, message_id) in one
        transaction; a message whose id is already stored is skipped. Returns how many
        were new. Raises ``sqlite3.Error`` when the disk refuses (nothing is then stored)."""
        con = self._conn()
        if self._clock is None:
            self._clock = dict(con.execute("SELECT topic, last_ms FROM topic_clock"))
        now = time.time_ns() // 1_000_000
        new = 0
        clock = dict(self._clock)
        with self._write_lock, con:
            for m in messages:
                ts = max(now, clock.get(m.topic, 0) + 1)
                cur = con.execute(
                    "INSERT OR IGNORE INTO journal (msg_id, topic, client_id, ts_ms, payload) VALUES (?, ?, ?, ?, ?)",
                    (m.message_id or uuid.uuid4().hex, m.topic, m.client_id, ts, m.payload),
                )
                if cur.rowcount:
                    clock[m.topic] = ts
                    new += 1
            con.executemany(
                "INSERT INTO topic_clock (topic, last_ms) VALUES (?, ?) "
                "ON CONFLICT(topic) DO UPDATE SET last_ms = excluded.last_ms",
                clock.items(),
            )
        self._clock = clock
        return new

    def record_refused(self, topic: str, client_id: str, msg_id: str | None, reason: str, payload: bytes) -> None:
        with self._write_lock, self._conn() as con:
            con.execute(
                "INSERT INTO errors (at_ms, topic, client_id, msg_id, reason, payload_preview) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time_ns() // 1_000_000, topic, client_id, msg_id, reason, preview(payload)),
            )

    # -- the rule engine ----------------------------------------------------------------
    def cursor(self, name: str) -> int:
        row = self._conn().execute("SELECT seq FROM cursor WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def after(self, seq: int, limit: int) -> list[JournalEntry]:
        rows = (
            self._conn()
            .execute(
                "SELECT seq, msg_id, topic, client_id, ts_ms, payload FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            .fetchall()
        )
        return [JournalEntry(*r) for r in rows]

    def commit_progress(
        self, name: str, seq: int, errors: list[tuple[JournalEntry, str]], buffered: list[tuple[str, int, bytes]]
    ) -> None:
        """Atomically: move cursor ``name`` to ``seq``, record rule errors (once per message)
        and add records to Firehose-like stream buffers."""
        now = time.time_ns() // 1_000_000
        with self._write_lock, self._conn() as con:
            con.execute(
                "INSERT INTO cursor (name, seq) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                (name, seq),
            )
            con.executemany(
                "INSERT OR IGNORE INTO errors (at_ms, seq, topic, client_id, msg_id, reason, "
                "payload_preview) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(now, e.seq, e.topic, e.client_id, e.msg_id, reason, preview(e.payload)) for e, reason in errors],
            )
            con.executemany("INSERT OR IGNORE INTO stream_buffer (stream, seq, data) VALUES (?, ?, ?)", buffered)

    # -- Firehose-like streams --------------------------------------------------------
    def buffer_state(self, stream: str) -> tuple[int, int, int | None]:
        """``(records, bytes, oldest seq)`` waiting in ``stream``'s buffer."""
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(data) + 1), 0), MIN(seq) FROM stream_buffer WHERE stream = ?",
                (stream,),
            )
            .fetchone()
        )
        return row[0], row[1], row[2]

    def received_ms(self, seq: int) -> int | None:
        """When message ``seq`` was received (ms since the epoch), or None if it is gone."""
        row = self._conn().execute("SELECT ts_ms FROM journal WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def buffered(self, stream: str, first_seq: int, last_seq: int) -> list[tuple[int, bytes]]:
        return (
            self._conn()
            .execute(
                "SELECT seq, data FROM stream_buffer WHERE stream = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (stream, first_seq, last_seq),
            )
            .fetchall()
        )

    def plan_batch(self, stream: str, max_bytes: int, bucket: str, key_for) -> tuple[int, int, str] | None:
        """Fix the next batch (records in seq order up to ``max_bytes``) and its object key
        before anything is written, so that a restart rewrites the same object."""
        con = self._conn()
        rows = con.execute(
            "SELECT seq, LENGTH(data) + 1 FROM stream_buffer WHERE stream = ? ORDER BY seq", (stream,)
        ).fetchall()
        if not rows:
            return None
        total, last = 0, rows[0][0]
        for seq, size in rows:
            if total and total + size > max_bytes:
                break
            total += size
            last = seq
        first = rows[0][0]
        key = key_for(first, last)
        with self._write_lock, con:
            con.execute(
                "INSERT OR IGNORE INTO stream_batches (stream, first_seq, last_seq, bucket, key) "
                "VALUES (?, ?, ?, ?, ?)",
                (stream, first, last, bucket, key),
            )
        return first, last, key

    def pending_batches(self, stream: str) -> list[tuple[int, int, str, str]]:
        return (
            self._conn()
            .execute(
                "SELECT first_seq, last_seq, bucket, key FROM stream_batches "
                "WHERE stream = ? AND done = 0 ORDER BY first_seq",
                (stream,),
            )
            .fetchall()
        )

    def finish_batch(self, stream: str, first_seq: int, last_seq: int) -> None:
        with self._write_lock, self._conn() as con:
            con.execute(
                "DELETE FROM stream_buffer WHERE stream = ? AND seq BETWEEN ? AND ?", (stream, first_seq, last_seq)
            )
            con.execute("UPDATE stream_batches SET done = 1 WHERE stream = ? AND first_seq = ?", (stream, first_seq))

    def compact(self, after_seq: int, upto_seq: int) -> int:
        """Cut the payloads of processed messages ``after_seq < seq <= upto_seq`` to the
        preview the logs page shows: the stores hold them now (event store, table, objects,
        stream buffer), so the journal need not be a third full copy. The id stays (a
        redelivery is still recognised) and so does the receipt time. Returns how many."""
        with self._write_lock, self._conn() as con:
            return con.execute(
                "UPDATE journal SET payload = substr(payload, 1, ?) WHERE seq > ? AND seq <= ? AND length(payload) > ?",
                (PREVIEW_CHARS + 1, after_seq, upto_seq, PREVIEW_CHARS + 1),
            ).rowcount

    def prune(self, before_ms: int) -> int:
        """Forget processed messages received before ``before_ms`` (and older errors and
        finished batch plans). Messages still waiting in a stream buffer are kept. Returns
        how many messages were removed. A copy of a message older than this that arrives
        again is no longer recognised as a duplicate by its id here (the event store and the
        sensor table still are idempotent)."""
        with self._write_lock, self._conn() as con:
            cursor = con.execute("SELECT COALESCE(MAX(seq), 0) FROM cursor WHERE name = 'rules'").fetchone()[0]
            removed = con.execute(
                "DELETE FROM journal WHERE seq <= ? AND ts_ms < ? AND seq NOT IN (SELECT seq FROM stream_buffer)",
                (cursor, before_ms),
            ).rowcount
            con.execute("DELETE FROM errors WHERE at_ms < ?", (before_ms,))
            con.execute("DELETE FROM stream_batches WHERE done = 1 AND last_seq <= ?", (cursor,))
        return removed

    def forget_person(self, name: str, topics: list[str]) -> int:
        """Delete the messages on ``topics`` whose ``Person`` is ``name`` (processed or not: a
        forgotten person's pending record is not stored either) and the errors quoting the name,
        then overwrite the freed bytes. Returns how many messages were removed. A copy of such a
        message that a device sends again is a new message (its id went with it)."""
        marks = ", ".join("?" * len(topics))
        payload = "CAST(payload AS TEXT)"
        with self._write_lock, self._conn() as con:
            con.execute("PRAGMA secure_delete=ON")
            # Escapes decoded (a device may write "Pe\u006eny"): json_extract for JSON, every
            # string literal (core.events.records.quotes_name) for what is not JSON.
            con.create_function("quotes_name", 2, _quotes_name, deterministic=True)
            removed = con.execute(
                f"DELETE FROM journal WHERE topic IN ({marks}) AND CASE WHEN json_valid({payload}) "
                f"THEN json_extract({payload}, '$.Person') = ? ELSE quotes_name({payload}, ?) END",
                (*topics, name, name),
            ).rowcount
            con.execute("DELETE FROM errors WHERE quotes_name(payload_preview, ?)", (name,))
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL held the old pages
        return removed

    # -- reading (logs page, CLI) -------------------------------------------------------
    def recent(self, topic: str | None = None, limit: int = 20) -> list[dict]:
        """Newest first: ``{"seq", "topic", "client_id", "received", "payload"}``."""
        sql = "SELECT seq, topic, client_id, ts_ms, payload FROM journal"
        args: list = []
        if topic:
            sql += " WHERE topic = ?"
            args.append(topic)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(int(limit))
        out = []
        for seq, top, client, ts, payload in self._conn().execute(sql, args):
            out.append(
                {
                    "seq": seq,
                    "topic": top,
                    "client_id": client,
                    "received_ms": ts,
                    "payload": preview(payload) if len(payload) <= PREVIEW_CHARS else preview(payload) + "…",
                }
            )
        return out

    def error_count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM errors").fetchone()[0]

    def errors(self, limit: int = 50) -> list[dict]:
        rows = (
            self._conn()
            .execute(
                "SELECT at_ms, topic, client_id, msg_id, reason, payload_preview FROM errors ORDER BY id DESC LIMIT ?",
                (int(limit),),
            )
            .fetchall()
        )
        return [dict(zip(("at_ms", "topic", "client_id", "msg_id", "reason", "payload"), r)) for r in rows]

    def backlog(self, name: str = "rules") -> int:
        """Messages stored but not yet processed by cursor ``name``."""
        row = self._conn().execute("SELECT COUNT(*) FROM journal WHERE seq > ?", (self.cursor(name),)).fetchone()
        return row[0]


def dumps(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
