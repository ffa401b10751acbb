"""A columnar copy of the SQLite journal for analytics: Parquet segments + in-memory DuckDB.

The journal's ``seq`` is assigned under SQLite's single write lock, so once a reader sees
``seq = N`` committed, every smaller ``seq`` is committed too. Segment file
``<kind>-<lo>-<hi>.parquet`` holds exactly the rows with ``lo < seq <= hi``; the smallest cover
S rows (aligned to multiples of S) and are sealed once the journal has gone past ``hi``; ten
aligned files of one size are compacted into one of the next size (S, 10 S, 100 S). Any process
may seal or compact and every process would write the same file, so there is no coordination
beyond atomic renames. Segments are a derived cache: deleting the ``columnar`` folder is always
safe (it is rebuilt from the journal).

Each process keeps every row in an in-memory DuckDB table per kind (compressed columns),
loaded from the segments at start (fast: columnar, no JSON, no per-row Python), then caught
up incrementally from the journal by ``seq`` on every ``cursor()`` call. Measured: querying
48 Parquet files directly cost about twice as much per chart as the in-memory table.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd

from core.events.columns import DUCKDB_TYPES, KIND_COLUMNS, TEXT_CHARS
from core.storage.files import ensure_dir

SEGMENT_ROWS = 20_000
COMPACT_FACTOR = 10  # 10 segments of one size become one of the next: 20k, 200k, 2M rows
# The layout version is in the name: files of an older layout are not read (and are removed).
LAYOUT = "v2"
# After a segment could not be written (no space, the folder gone), sealing waits this long:
# the rows stay in memory meanwhile, so queries are unaffected.
SEAL_RETRY_S = 60.0
log = logging.getLogger(__name__)
_SEGMENT_NAME = re.compile(rf"^(?P<kind>[a-z]+)-{LAYOUT}-(?P<lo>\d{{12}})-(?P<hi>\d{{12}})\.parquet$")


def _duck_columns(kind: str) -> list[tuple[str, str]]:
    """Only what the charts read: no ``extra`` (a device's 100 KB extra fields stay in the
    journal, not in memory here) and text cut to ``TEXT_CHARS`` characters."""
    return (
        [("seq", "BIGINT"), ("ts", "BIGINT")]
        + [(c, DUCKDB_TYPES[t]) for _, c, t in KIND_COLUMNS[kind]]
        + [("unreadable", "INTEGER")]
    )


def _sqlite_select(kind: str) -> str:
    """The journal's columns as the copy holds them (text cut in SQLite, before Python)."""
    text = {c for _, c, t in KIND_COLUMNS[kind] if t == "TEXT"}
    return ", ".join(f"substr({c}, 1, {TEXT_CHARS}) AS {c}" if c in text else c for c, _ in _duck_columns(kind))


class ColumnarMirror:
    """In-memory DuckDB views ``auth``, ``analysis``, ``door``, ``sensor`` over the journal at ``db_path``;
    ``ts`` in the views is a UTC ``TIMESTAMP``."""

    def __init__(self, db_path: Path, segments_dir: Path, segment_rows: int = SEGMENT_ROWS):
        self.db_path = Path(db_path)
        self.dir = ensure_dir(segments_dir)
        self.segment_rows = segment_rows
        self._lock = threading.Lock()
        self._duck = duckdb.connect(":memory:", config={"threads": 2, "memory_limit": "512MB"})
        self._sqlite = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
        self._watermark = {kind: 0 for kind in KIND_COLUMNS}  # highest seq loaded
        self._sealed = {kind: 0 for kind in KIND_COLUMNS}  # highest seq known to be in a segment file
        self._loaded = {kind: False for kind in KIND_COLUMNS}
        self.sealed_last_refresh = 0
        self._seal_after = 0.0  # monotonic time before which sealing is not tried again
        for entry in os.scandir(self.dir):  # segments of an older layout (e.g. with ``extra``)
            if entry.name.endswith(".parquet") and not _SEGMENT_NAME.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        for kind in KIND_COLUMNS:
            cols = ", ".join(f"{c} {t}" for c, t in _duck_columns(kind))
            self._duck.execute(f"CREATE TABLE rows_{kind} ({cols})")
            self._duck.execute(f"CREATE VIEW {kind} AS SELECT * REPLACE (make_timestamp(ts) AS ts) FROM rows_{kind}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB cursor whose views include every event committed before this call."""
        with self._lock:
            self.sealed_last_refresh = 0
            for kind in KIND_COLUMNS:
                self._refresh(kind)
            return self._duck.cursor()

    def _segment_files(self, kind: str) -> dict[int, list[tuple[int, Path]]]:
        """first seq (exclusive) -> [(last seq, path)] of this kind's segment files."""
        out: dict[int, list[tuple[int, Path]]] = {}
        try:
            entries = list(os.scandir(self.dir))
        except OSError:  # the folder is gone or unreadable: no segments, the journal has every row
            return out
        for entry in entries:
            m = _SEGMENT_NAME.match(entry.name)
            if m and m["kind"] == kind:
                out.setdefault(int(m["lo"]), []).append((int(m["hi"]), Path(entry.path)))
        return out

    def _cover(self, kind: str) -> list[tuple[int, int, Path]]:
        """The fewest segment files that hold seq 1..N contiguously (largest file first)."""
        files, cover, lo = self._segment_files(kind), [], 0
        while lo in files:
            hi, path = max(files[lo])
            cover.append((lo, hi, path))
            lo = hi
        return cover

    def _load_segments(self, kind: str) -> None:
        for attempt in range(3):  # a compaction elsewhere may delete a file we just listed
            cover = self._cover(kind)
            if not cover:
                return
            listing = ", ".join("'" + str(p).replace("'", "''") + "'" for _, _, p in cover)
            try:
                self._duck.execute(f"INSERT INTO rows_{kind} SELECT * FROM read_parquet([{listing}])")
            except duckdb.IOException:
                if attempt < 2:
                    continue
                self._drop_unreadable(kind, cover)
                return
            except duckdb.Error:
                self._drop_unreadable(kind, cover)
                return
            self._watermark[kind] = self._sealed[kind] = cover[-1][1]
            return

    def _drop_unreadable(self, kind: str, cover: list[tuple[int, int, Path]]) -> None:
        """A segment that cannot be read (damaged, cut short) is only a cache: remove the ones
        that fail alone; their rows come from the journal and are sealed again (the INSERT that
        failed added nothing)."""
        for _, _, path in cover:
            try:
                self._duck.execute(f"SELECT count(*) FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')")
            except duckdb.Error as exc:
                log.warning("columnar copy: dropping unreadable segment %s (%s)", path.name, str(exc).splitlines()[0])
                with contextlib.suppress(OSError):
                    path.unlink()

    def _write_segment(self, kind: str, lo: int, hi: int) -> bool:
        path = self.dir / f"{kind}-{LAYOUT}-{lo:012d}-{hi:012d}.parquet"
        if path.exists():  # another process wrote it: same rows, same file
            return False
        tmp = self.dir / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self._duck.execute(
                f"COPY (SELECT * FROM rows_{kind} WHERE seq > ? AND seq <= ? ORDER BY seq) "
                f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)",
                [lo, hi],
            )
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()  # a half-written file must not fill the disk further
            raise
        return True

    def _compact(self, kind: str) -> None:
        """Merge COMPACT_FACTOR aligned files of one size into one file of the next size and
        drop the small ones: fewer, larger files load faster (measured: 48 files 0.30 s,
        4 files 0.16 s for a million rows)."""
        size = self.segment_rows
        while True:
            files = self._segment_files(kind)
            merged = False
            span = size
            while span * COMPACT_FACTOR <= self._sealed[kind]:
                big = span * COMPACT_FACTOR
                for lo in range(0, self._sealed[kind] - big + 1, big):
                    parts = [lo + i * span for i in range(COMPACT_FACTOR)]
                    have = all(any(hi == p + span for hi, _ in files.get(p, [])) for p in parts)
                    bigger = any(hi >= lo + big for hi, _ in files.get(lo, []))
                    if have and not bigger:
                        self._write_segment(kind, lo, lo + big)
                        for p in parts:
                            for hi, path in files.get(p, []):
                                if hi == p + span:
                                    with contextlib.suppress(FileNotFoundError):
                                        path.unlink()
                        merged = True
                span = big
            if not merged:
                return

    def _refresh(self, kind: str) -> None:
        size = self.segment_rows
        if not self._loaded[kind]:
            self._load_segments(kind)
            self._loaded[kind] = True
        cols = [c for c, _ in _duck_columns(kind)]
        rows = self._sqlite.execute(
            f"SELECT {_sqlite_select(kind)} FROM {kind} WHERE seq > ? ORDER BY seq", [self._watermark[kind]]
        ).fetchall()
        if rows:
            frame = pd.DataFrame.from_records(rows, columns=cols)
            self._duck.execute(f"INSERT INTO rows_{kind} SELECT * FROM frame")
            self._watermark[kind] = int(frame["seq"].iloc[-1])
        # Seal every complete segment (all its rows are committed once a later seq is visible).
        if time.monotonic() < self._seal_after:
            return
        sealed_any = False
        try:
            while self._watermark[kind] > self._sealed[kind] + size:
                lo = self._sealed[kind]
                if self._write_segment(kind, lo, lo + size):
                    self.sealed_last_refresh += 1
                self._sealed[kind] = lo + size
                sealed_any = True
            if sealed_any:
                self._compact(kind)
        except (duckdb.Error, OSError) as exc:
            # Segments only speed up the next process's start: the rows are in memory already.
            self._seal_after = time.monotonic() + SEAL_RETRY_S
            log.warning("columnar copy: cannot write segments now (%s); retrying in %.0f s", exc, SEAL_RETRY_S)

    def close(self) -> None:
        self._duck.close()
        self._sqlite.close()
