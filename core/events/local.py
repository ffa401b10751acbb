"""Local event store: SQLite (WAL) under ``<data dir>/events/events.db``.

Idempotent by message id, so QoS 1 redelivery never doubles a record.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pandas as pd

from core.errors import InvalidParameter
from core.events.port import KINDS, EventStore
from core.storage import ensure_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    device_id TEXT,
    ts TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind_ts ON events(kind, ts);
CREATE INDEX IF NOT EXISTS events_by_kind_device_ts ON events(kind, device_id, ts);
"""


def normalise_datetime(value) -> str:
    """Sortable UTC ISO text from the course's two formats (``2019-08-08 18:12:00`` and
    ``2019-08-08T18:12:00Z``); unparseable values sort first rather than being lost."""
    ts = pd.to_datetime(value, utc=True, errors="coerce")
    if pd.isna(ts):
        return "0000-00-00T00:00:00.000000Z"
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LocalEventStore(EventStore):
    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._local = threading.local()
        con = self._conn()
        con.executescript(_SCHEMA)
        self.path.chmod(0o600)

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            self._local.con = con
        return con

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS:
            raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")

    def append(self, kind, records, ids):
        self._check_kind(kind)
        if len(records) != len(ids):
            raise InvalidParameter("records and ids must have the same length")
        con = self._conn()
        with con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO events (id, kind, device_id, ts, payload) VALUES (?, ?, ?, ?, ?)",
                [(i, kind, r.get("DeviceID"), normalise_datetime(r.get("Datetime")), json.dumps(r, ensure_ascii=False))
                 for r, i in zip(records, ids)])
            return con.total_changes - before

    def query(self, kind, *, device=None, since=None, until=None, limit=None):
        self._check_kind(kind)
        sql, args = "SELECT payload FROM events WHERE kind = ?", [kind]
        if device:
            sql += " AND device_id = ?"
            args.append(device)
        if since:
            sql += " AND ts >= ?"
            args.append(normalise_datetime(since))
        if until:
            sql += " AND ts < ?"
            args.append(normalise_datetime(until))
        if limit:
            sql = f"SELECT payload FROM ({sql} ORDER BY ts DESC LIMIT ?) ORDER BY rowid"
            args.append(int(limit))
        rows = self._conn().execute(sql, args).fetchall()
        df = pd.DataFrame([json.loads(r[0]) for r in rows])
        if "Datetime" in df:
            df["Datetime"] = pd.to_datetime(df["Datetime"], utc=True, errors="coerce", format="mixed")
            df = df.sort_values("Datetime", kind="stable").reset_index(drop=True)
        return df
