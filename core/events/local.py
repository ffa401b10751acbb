"""Local event store: a SQLite journal (the truth) plus a columnar copy for analytics.

Why this shape (measured on these 2 cores with 1,000,000 events, docs/benchmarks.md "Analytics"):
- SQLite in WAL mode is the only candidate that lets the rule engine append from one process
  while the app, the CLI and the Web API read from others, durably and crash-safe. DuckDB
  allows one read-write process *or* many readers; Parquet files cannot be appended in place
  and give no idempotency by id.
- But SQLite aggregates 30-180 ms per chart at 1 M rows, DuckDB 1-5 ms. So the analytics side
  reads DuckDB over immutable Parquet segments sealed from the journal plus the small unsealed
  tail (``core.events.columnar``).

Journal layout: one table per kind with the typed columns of ``core.events.columns``;
``seq`` orders rows as committed, ``id`` (the MQTT message id) makes ``append`` idempotent,
``received`` is when the message arrived (µs since the epoch, UTC; retention purges by it,
never by the device's clock) and ``sender`` the thing name of the certificate (or credential)
that sent it, so a record whose ``DeviceID`` names another device shows who really sent it.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.config import zone_info
from core.errors import InvalidParameter
from core.events.columns import KIND_COLUMNS, SQLITE_TYPES, parse_datetime_us, to_payload_frame, to_row
from core.events.port import KINDS, EventStore
from core.storage.files import ensure_dir
from core.storage.sqlite import ThreadConnections

if TYPE_CHECKING:
    from core.events.columnar import ColumnarMirror


def _schema() -> str:
    # journal_id names this journal's columnar folder, so segments of a deleted or replaced
    # journal are never mixed into a new one.
    parts = [
        """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('journal_id', lower(hex(randomblob(8))));"""
    ]
    for kind, cols in KIND_COLUMNS.items():
        typed = ", ".join(f"{c} {SQLITE_TYPES[t]}" for _, c, t in cols)
        parts.append(f"""
CREATE TABLE IF NOT EXISTS {kind} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER,
    {typed},
    extra TEXT,
    received INTEGER,
    sender TEXT,
    datetime_raw TEXT,
    unreadable INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS {kind}_by_ts ON {kind}(ts);
CREATE INDEX IF NOT EXISTS {kind}_by_device_ts ON {kind}(device, ts);""")
    return "\n".join(parts)


def _upgrade(con: sqlite3.Connection) -> None:
    """Add ``received``/``sender`` to a journal made before they existed. Old rows get the
    device's time as their receipt time when it is not in the future, else now (so that a
    record dated 2099 or unreadable is purged after the retention period from today)."""
    now_us = int(time.time() * 1_000_000)
    for kind in KIND_COLUMNS:
        have = {row[1] for row in con.execute(f"PRAGMA table_info({kind})")}
        with con:
            if "received" not in have:
                con.execute(f"ALTER TABLE {kind} ADD COLUMN received INTEGER")
                con.execute(
                    f"UPDATE {kind} SET received = CASE WHEN ts <= ? THEN ts ELSE ? END WHERE received IS NULL",
                    (now_us, now_us),
                )
            if "sender" not in have:
                con.execute(f"ALTER TABLE {kind} ADD COLUMN sender TEXT")
            if "datetime_raw" not in have:
                con.execute(f"ALTER TABLE {kind} ADD COLUMN datetime_raw TEXT")
            if "unreadable" not in have:
                con.execute(f"ALTER TABLE {kind} ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0")
            con.execute(f"CREATE INDEX IF NOT EXISTS {kind}_by_received ON {kind}(received)")


def normalise_datetime(value) -> str:
    """Sortable UTC ISO text from the course's two formats (``2019-08-08 18:12:00`` and
    ``2019-08-08T18:12:00Z``); unparseable values sort first rather than being lost."""
    import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

    us = parse_datetime_us(value)
    if us is None:
        return "0000-00-00T00:00:00.000000Z"
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LocalEventStore(EventStore):
    """Events under ``path`` (SQLite, WAL); Parquet segments in ``<path's dir>/columnar/<journal id>``."""

    def __init__(self, path: Path, segment_rows: int | None = None, zone=None):
        """``zone``: where times written without a zone are read (``FACEGATE_TIMEZONE``'s
        ``ZoneInfo``; default this machine's zone)."""
        self.path = Path(path)
        self._segment_rows = segment_rows
        self.zone = zone if zone is not None else zone_info("")
        ensure_dir(self.path.parent)
        self._db = ThreadConnections(self.path)
        con = self._conn()
        con.executescript(_schema())
        _upgrade(con)
        self.path.chmod(0o600)
        self._columnar: ColumnarMirror | None = None
        self._columnar_id: str | None = None
        self._columnar_lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None

    def _conn(self) -> sqlite3.Connection:
        return self._db.connection()

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")

    def append(self, kind, records, ids, *, received=None, senders=None):
        """Store ``records`` (course payload dicts) under their message ``ids`` in one
        transaction, with when each arrived (``received``: ms since the epoch, default now) and
        who sent it (``senders``: thing names, default unknown). Returns how many were new.
        Raises InvalidParameter for an unknown kind, mismatched lengths, a record that is not an
        object or an empty id."""
        self._check_kind(kind)
        now_ms = int(time.time() * 1000)
        received = list(received) if received is not None else [now_ms] * len(records)
        senders = list(senders) if senders is not None else [None] * len(records)
        if not len(records) == len(ids) == len(received) == len(senders):
            raise InvalidParameter("records, ids, received and senders must have the same length")
        rows = []
        for record, message_id, at_ms, sender in zip(records, ids, received, senders, strict=True):
            if not isinstance(record, dict):
                raise InvalidParameter(f"a {kind} record must be a JSON object, not {type(record).__name__}")
            if not message_id or not isinstance(message_id, str):
                raise InvalidParameter("every record needs a non-empty message id")
            ts, *typed, extra, raw_time, unreadable = to_row(kind, record, self.zone)
            rows.append((message_id, ts, *typed, extra, raw_time, unreadable, int(at_ms) * 1000, sender or None))
        if not rows:
            return 0
        cols = (
            ["id", "ts"]
            + [c for _, c, _ in KIND_COLUMNS[kind]]
            + ["extra", "datetime_raw", "unreadable", "received", "sender"]
        )
        sql = f"INSERT OR IGNORE INTO {kind} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        con = self._conn()
        with con:
            before = con.total_changes
            con.executemany(sql, rows)
            return con.total_changes - before

    def query(self, kind, *, device=None, since=None, until=None, limit=None, receipts=False):
        """Events of ``kind`` in [since, until) as payload-named columns, oldest first; with
        ``limit`` the newest ``limit`` of them. Raises InvalidParameter for a bad kind or time."""
        import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

        self._check_kind(kind)
        cols = ["seq", "ts"] + [c for _, c, _ in KIND_COLUMNS[kind]] + ["extra", "datetime_raw", "received", "sender"]
        sql, args = f"SELECT {', '.join(cols)} FROM {kind} WHERE 1=1", []
        if device:
            sql += " AND device = ?"
            args.append(device)
        for bound, op in ((since, ">="), (until, "<")):
            if bound is not None and bound != "":
                us = parse_datetime_us(bound if not isinstance(bound, pd.Timestamp) else bound.to_pydatetime())
                if us is None:
                    raise InvalidParameter(f"not a date/time: {bound!r}")
                sql += f" AND ts {op} ?"
                args.append(us)
        if limit:
            sql = f"SELECT * FROM ({sql} ORDER BY ts DESC, seq DESC LIMIT ?) ORDER BY ts, seq"
            args.append(int(limit))
        else:
            sql += " ORDER BY ts, seq"
        rows = self._conn().execute(sql, args).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=cols)
        return to_payload_frame(kind, frame if receipts else frame.drop(columns=["received", "sender"]))

    def recent(self, kind, limit=10):
        """The ``limit`` records received last, newest first, with receipts."""
        import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

        self._check_kind(kind)
        cols = ["seq", "ts"] + [c for _, c, _ in KIND_COLUMNS[kind]] + ["extra", "datetime_raw", "received", "sender"]
        rows = (
            self._conn()
            .execute(f"SELECT {', '.join(cols)} FROM {kind} ORDER BY seq DESC LIMIT ?", (int(limit),))
            .fetchall()
        )
        return to_payload_frame(kind, pd.DataFrame.from_records(rows, columns=cols))

    def count(self, kind: str) -> int:
        """How many events of ``kind`` are stored."""
        self._check_kind(kind)
        return self._conn().execute(f"SELECT count(*) FROM {kind}").fetchone()[0]

    def _journal_id(self) -> str:
        return self._conn().execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0]

    def columnar(self, *, since=None, until=None):
        """DuckDB over sealed Parquet segments plus the journal's tail, caught up now. A new
        journal id (rows were deleted: ``forget_person``) means a new copy, built again from the
        journal, so deleted rows leave every process's copy too."""
        with self._columnar_lock:
            journal = self._journal_id()
            if self._columnar is not None and self._columnar_id != journal:
                self._columnar.close()
                self._columnar = None
            if self._columnar is None:
                from core.events.columnar import ColumnarMirror  # noqa: PLC0415 (duckdb and pyarrow load only when analytics asks)

                self._columnar = ColumnarMirror(
                    self.path,
                    self.path.parent / "columnar" / journal,
                    **({"segment_rows": self._segment_rows} if self._segment_rows else {}),
                )
                self._columnar_id = journal
            return self._columnar.cursor()

    def forget_person(self, name: str) -> int:
        """Delete the auth and door records naming ``name`` (see ``_delete``). Returns how many."""
        return self._delete({kind: ("person = ?", [name]) for kind in ("auth", "door")})

    def purge_before(self, cutoff: datetime, slack: timedelta = timedelta(days=1)) -> int:
        """Delete the auth, door and analysis records *received* before ``cutoff`` (sensor
        readings stay, as in the aws sensor table). The time of receipt, never the device's
        clock: a board reset to 1970 keeps today's logs, and one dated 2099 or unreadable is
        purged like any other. Nothing happens until some record is older than ``cutoff -
        slack``: every deletion makes each process rebuild its columnar copy, so the purge
        (every 15 minutes under ``serve``) deletes about once per ``slack``. Returns how many."""
        cutoff_us = int(cutoff.timestamp() * 1_000_000)
        kinds = ("auth", "door", "analysis")
        con = self._conn()
        oldest = [con.execute(f"SELECT min(received) FROM {kind}").fetchone()[0] for kind in kinds]
        if not any(r is not None and r < cutoff_us - slack / timedelta(microseconds=1) for r in oldest):
            return 0
        return self._delete({kind: ("received < ?", [cutoff_us]) for kind in kinds})

    def _delete(self, where: dict[str, tuple[str, list]]) -> int:
        """Delete rows (``kind -> (condition, args)``) with their bytes overwritten, and retire
        the columnar copy (its Parquet segments hold the rows too): a new journal id makes
        every process build a new copy from the journal."""
        con = self._conn()
        con.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed, not left readable
        with con:
            removed = sum(
                con.execute(f"DELETE FROM {kind} WHERE {cond}", args).rowcount for kind, (cond, args) in where.items()
            )
            if removed:
                con.execute("UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = 'journal_id'")
        if removed:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL held the old pages
            keep = self._journal_id()
            columnar = self.path.parent / "columnar"
            for folder in columnar.iterdir() if columnar.is_dir() else ():
                if folder.name != keep:
                    shutil.rmtree(folder, ignore_errors=True)
        return removed

    def warm_columnar(self) -> threading.Thread:
        """Load the columnar copy in a background thread now (the app calls this when an admin,
        who alone sees the charts, is signed in, so the first analytics page does not wait for
        it). Once per store: later calls return the same thread."""
        with self._columnar_lock:
            if self._warm_thread is None:

                def load() -> None:
                    self.columnar().close()

                self._warm_thread = threading.Thread(target=load, name="facegate-columnar-warm", daemon=True)
                self._warm_thread.start()
            return self._warm_thread

    def seal(self) -> int:
        """Write every complete segment of the journal to Parquet now (demo-data calls this
        after a bulk load so that the first page render does not). Returns segments written."""
        self.columnar().close()
        assert self._columnar is not None  # columnar() made it
        return self._columnar.sealed_last_refresh
