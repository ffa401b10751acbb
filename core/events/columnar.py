"""A columnar copy of the SQLite journal for analytics: Parquet segments + in-memory DuckDB.

The journal's ``seq`` is assigned under SQLite's single write lock, so once a reader sees
``seq = N`` committed, every smaller ``seq`` is committed too. Segment ``k`` of a kind holds
exactly the rows with ``k*S < seq <= (k+1)*S`` and is sealed once the journal has gone past
``(k+1)*S``: any process may seal it and every process would write the same file, so sealing
needs no coordination beyond an atomic rename. Segments are a derived cache: deleting the
``columnar`` folder is always safe (it is rebuilt from the journal).

Each process keeps every row in an in-memory DuckDB table per kind (compressed columns),
loaded from the segments at start (fast: columnar, no JSON, no per-row Python), then caught
up incrementally from the journal by ``seq`` on every ``cursor()`` call. Measured: querying
48 Parquet files directly cost about twice as much per chart as the in-memory table.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from pathlib import Path

import duckdb
import pandas as pd

from core.events.columns import DUCKDB_TYPES, KIND_COLUMNS
from core.storage import ensure_dir

SEGMENT_ROWS = 20_000
_SEGMENT_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<k>\d{8})\.parquet$")


def _duck_columns(kind: str) -> list[tuple[str, str]]:
    return ([("seq", "BIGINT"), ("ts", "BIGINT")]
            + [(c, DUCKDB_TYPES[t]) for _, c, t in KIND_COLUMNS[kind]] + [("extra", "VARCHAR")])


class ColumnarMirror:
    """In-memory DuckDB views ``auth``, ``analysis``, ``door``, ``sensor`` over the journal at ``db_path``;
    ``ts`` in the views is a UTC ``TIMESTAMP``."""

    def __init__(self, db_path: Path, segments_dir: Path, segment_rows: int = SEGMENT_ROWS):
        self.db_path = Path(db_path)
        self.dir = ensure_dir(segments_dir)
        self.segment_rows = segment_rows
        self._lock = threading.Lock()
        self._duck = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "512MB"})
        self._sqlite = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30,
                                       check_same_thread=False)
        self._watermark = {kind: 0 for kind in KIND_COLUMNS}  # highest seq loaded
        self._sealed = {kind: 0 for kind in KIND_COLUMNS}  # highest seq known to be in a segment file
        self._loaded = {kind: False for kind in KIND_COLUMNS}
        self.sealed_last_refresh = 0
        for kind in KIND_COLUMNS:
            cols = ", ".join(f"{c} {t}" for c, t in _duck_columns(kind))
            self._duck.execute(f"CREATE TABLE rows_{kind} ({cols})")
            self._duck.execute(
                f"CREATE VIEW {kind} AS SELECT * REPLACE (make_timestamp(ts) AS ts) FROM rows_{kind}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor whose views include every event committed before this call."""
        with self._lock:
            self.sealed_last_refresh = 0
            for kind in KIND_COLUMNS:
                self._refresh(kind)
            return self._duck.cursor()

    def _segment_files(self, kind: str) -> list[tuple[int, Path]]:
        out = []
        for entry in os.scandir(self.dir):
            m = _SEGMENT_NAME.match(entry.name)
            if m and m["kind"] == kind:
                out.append((int(m["k"]), Path(entry.path)))
        return sorted(out)

    def _refresh(self, kind: str) -> None:
        size = self.segment_rows
        if not self._loaded[kind]:
            # First call: every contiguous sealed segment, straight from Parquet.
            usable = []
            for expected, (k, path) in enumerate(self._segment_files(kind)):
                if k != expected:
                    break  # a deleted file ends what we can use; the journal fills the rest
                usable.append(str(path))
            if usable:
                listing = ", ".join("'" + f.replace("'", "''") + "'" for f in usable)
                self._duck.execute(f"INSERT INTO rows_{kind} SELECT * FROM read_parquet([{listing}])")
                self._watermark[kind] = self._sealed[kind] = len(usable) * size
            self._loaded[kind] = True
        cols = [c for c, _ in _duck_columns(kind)]
        rows = self._sqlite.execute(
            f"SELECT {', '.join(cols)} FROM {kind} WHERE seq > ? ORDER BY seq",
            [self._watermark[kind]]).fetchall()
        if rows:
            frame = pd.DataFrame.from_records(rows, columns=cols)
            self._duck.execute(f"INSERT INTO rows_{kind} SELECT * FROM frame")
            self._watermark[kind] = int(frame["seq"].iloc[-1])
        # Seal every complete segment (all its rows are committed once a later seq is visible).
        while self._watermark[kind] > self._sealed[kind] + size:
            lo = self._sealed[kind]
            path = self.dir / f"{kind}-{lo // size:08d}.parquet"
            if not path.exists():  # another process may have sealed it: same rows, same file
                tmp = self.dir / f".{kind}-{lo // size:08d}.{os.getpid()}.{threading.get_ident()}.tmp"
                self._duck.execute(
                    f"COPY (SELECT * FROM rows_{kind} WHERE seq > ? AND seq <= ? ORDER BY seq) "
                    f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {size})", [lo, lo + size])
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
                self.sealed_last_refresh += 1
            self._sealed[kind] = lo + size

    def close(self) -> None:
        self._duck.close()
        self._sqlite.close()
