"""The local stand-in for the course's DynamoDB sensor table: items keyed by partition key
``DeviceID`` and sort key ``Datetime``; writing an item with the same keys replaces it,
as ``PutItem`` does (which also makes rule replays idempotent)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from core.errors import InvalidParameter
from core.storage.files import ensure_dir
from core.storage.sqlite import ThreadConnections

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    table_name TEXT NOT NULL,
    device_id TEXT NOT NULL,
    datetime TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (table_name, device_id, datetime)
) WITHOUT ROWID;
"""


class LocalSensorTable:
    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._db = ThreadConnections(self.path)
        self._conn().executescript(_SCHEMA)
        self.path.chmod(0o600)

    def _conn(self) -> sqlite3.Connection:
        return self._db.connection()

    def put_items(self, table: str, items: list[dict]) -> None:
        """PutItem for each item; raises ``InvalidParameter`` when a key attribute is missing."""
        rows = []
        for item in items:
            device, when = item.get("DeviceID"), item.get("Datetime")
            if not isinstance(device, str) or not isinstance(when, str):
                raise InvalidParameter("sensor items need DeviceID and Datetime strings")
            rows.append((table, device, when, json.dumps(item, ensure_ascii=False)))
        with self._conn() as con:
            con.executemany(
                "INSERT OR REPLACE INTO items (table_name, device_id, datetime, item) VALUES (?, ?, ?, ?)", rows
            )

    def query(
        self,
        table: str,
        device_id: str,
        *,
        since: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict]:
        """Items of one partition in sort-key order (like ``Query`` with a key condition)."""
        sql = "SELECT item FROM items WHERE table_name = ? AND device_id = ?"
        args: list = [table, device_id]
        if since:
            sql += " AND datetime >= ?"
            args.append(since)
        sql += " ORDER BY datetime" + (" DESC" if newest_first else "")
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [json.loads(r[0]) for r in self._conn().execute(sql, args)]

    def count(self, table: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM items WHERE table_name = ?", (table,)).fetchone()[0]
