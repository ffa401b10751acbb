"""On-disk face collections: one SQLite database (WAL, full sync) holding collections and
face vectors, plus an in-memory matrix per collection for 1:N search.

Why SQLite: every write (index, delete) is one transaction, so a process killed mid-write
leaves the old or the new state, never a half-written index; readers in other processes
see a consistent snapshot. Each write bumps the collection's ``generation``; searchers
compare it (one indexed read) and, when it changed, apply only what changed since their
generation: the faces added (``seq`` only grows) and the deletions, which ``face_deletions``
records by seq (no biometric data) so that a 1M-face index is never reloaded for one
enrolment or deletion (``core.faces.search.SearchIndex``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CollectionNotFound, ResourceAlreadyExists
from core.faces.search import SearchIndex
from core.storage.files import ensure_dir

POOL_SIZE = 8  # idle connections kept; more are opened under load and closed after
# Deletions older than this many generations leave the log: a searcher whose index is older
# finds the counts disagree and reloads (correct, just slower), so the log stays bounded.
DELETION_LOG_GENERATIONS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    collection_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    face_id TEXT NOT NULL UNIQUE,
    collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
    external_image_id TEXT,
    image_id TEXT NOT NULL,
    bbox TEXT NOT NULL,
    confidence REAL NOT NULL,
    indexed_at REAL NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(collection_id, seq);
CREATE INDEX IF NOT EXISTS faces_by_person ON faces(collection_id, external_image_id);
CREATE TABLE IF NOT EXISTS face_deletions (
    collection_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS face_deletions_by_generation ON face_deletions(collection_id, generation);
"""


@dataclass
class StoredFace:
    face_id: str
    external_image_id: str | None
    image_id: str
    bbox: dict
    confidence: float
    indexed_at: float


class FaceStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._idle: list[sqlite3.Connection] = []  # pooled connections not in use
        self._pool_lock = threading.Lock()
        self._cache: dict[str, SearchIndex] = {}
        self._cache_lock = threading.Lock()
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        con.close()
        if self.path.exists():
            self.path.chmod(0o600)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        # Deleted faces are biometric data: overwrite their pages instead of leaving them free.
        con.execute("PRAGMA secure_delete=ON")
        return con

    def _borrow(self) -> sqlite3.Connection:
        # A small pool, not one connection per thread: a server that starts a thread per
        # request would otherwise leave a connection (3 file descriptors) behind per thread.
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, con: sqlite3.Connection) -> None:
        with self._pool_lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(con)
                return
        con.close()

    def _conn(self, write: bool = False) -> _Tx:
        return _Tx(self._borrow(), write, self._release)

    # --- collections ---------------------------------------------------------------
    def create_collection(self, collection_id: str) -> float:
        created = time.time()
        with self._conn(write=True) as con:
            try:
                con.execute("INSERT INTO collections VALUES (?, ?, 0)", (collection_id, created))
            except sqlite3.IntegrityError:
                raise ResourceAlreadyExists(f"collection {collection_id!r} already exists") from None
        return created

    def delete_collection(self, collection_id: str) -> None:
        with self._conn(write=True) as con:
            self._require(con, collection_id)
            con.execute("DELETE FROM faces WHERE collection_id = ?", (collection_id,))
            con.execute("DELETE FROM face_deletions WHERE collection_id = ?", (collection_id,))
            con.execute("DELETE FROM collections WHERE collection_id = ?", (collection_id,))
        with self._cache_lock:
            self._cache.pop(collection_id, None)

    def list_collections(self) -> list[str]:
        with self._conn() as con:
            return [r[0] for r in con.execute("SELECT collection_id FROM collections ORDER BY collection_id")]

    def describe(self, collection_id: str) -> tuple[float, int]:
        """(created epoch seconds, face count)."""
        with self._conn() as con:
            created = self._require(con, collection_id)
            count = con.execute("SELECT COUNT(*) FROM faces WHERE collection_id = ?", (collection_id,)).fetchone()[0]
        return created, count

    @staticmethod
    def _require(con, collection_id: str) -> float:
        row = con.execute("SELECT created FROM collections WHERE collection_id = ?", (collection_id,)).fetchone()
        if row is None:
            raise CollectionNotFound(f"collection {collection_id!r} does not exist")
        return row[0]

    # --- faces ---------------------------------------------------------------------
    def add_faces(self, collection_id: str, faces: list[tuple[StoredFace, np.ndarray]]) -> None:
        """Add faces in one transaction (all or none)."""
        with self._conn(write=True) as con:
            self._require(con, collection_id)
            con.executemany(
                "INSERT INTO faces (face_id, collection_id, external_image_id, image_id, bbox, confidence,"
                " indexed_at, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.face_id,
                        collection_id,
                        f.external_image_id,
                        f.image_id,
                        json.dumps(f.bbox),
                        f.confidence,
                        f.indexed_at,
                        np.asarray(v, dtype=np.float32).tobytes(),
                    )
                    for f, v in faces
                ],
            )
            con.execute("UPDATE collections SET generation = generation + 1 WHERE collection_id = ?", (collection_id,))

    def delete_faces(self, collection_id: str, face_ids: list[str]) -> list[str]:
        """Delete; returns the ids that existed (and are now gone)."""
        with self._conn(write=True) as con:
            self._require(con, collection_id)
            deleted, seqs = [], []
            for face_id in face_ids:
                row = con.execute(
                    "DELETE FROM faces WHERE collection_id = ? AND face_id = ? RETURNING seq", (collection_id, face_id)
                ).fetchone()
                if row is not None:
                    deleted.append(face_id)
                    seqs.append(row[0])
            if deleted:
                (generation,) = con.execute(
                    "UPDATE collections SET generation = generation + 1 WHERE collection_id = ? RETURNING generation",
                    (collection_id,),
                ).fetchone()
                con.executemany(
                    "INSERT INTO face_deletions (collection_id, generation, seq) VALUES (?, ?, ?)",
                    [(collection_id, generation, seq) for seq in seqs],
                )
                con.execute(
                    "DELETE FROM face_deletions WHERE collection_id = ? AND generation <= ?",
                    (collection_id, generation - DELETION_LOG_GENERATIONS),
                )
        return deleted

    def scrub(self) -> None:
        """Make deletions final on disk: copy the WAL into the database (whose freed pages
        secure_delete has zeroed) and truncate the WAL, which still holds old page images."""
        con = self._borrow()
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._release(con)

    def list_faces(self, collection_id: str, after_seq: int, limit: int) -> tuple[list[StoredFace], int | None]:
        """A page of faces in index order and the seq to continue after (None at the end)."""
        with self._conn() as con:
            self._require(con, collection_id)
            rows = con.execute(
                "SELECT seq, face_id, external_image_id, image_id, bbox, confidence, indexed_at FROM faces"
                " WHERE collection_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (collection_id, after_seq, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        faces = [StoredFace(r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]
        return faces, (rows[-1][0] if more and rows else None)

    def get_face(self, collection_id: str, face_id: str) -> tuple[StoredFace, np.ndarray] | None:
        with self._conn() as con:
            self._require(con, collection_id)
            r = con.execute(
                "SELECT face_id, external_image_id, image_id, bbox, confidence, indexed_at, vector FROM faces"
                " WHERE collection_id = ? AND face_id = ?",
                (collection_id, face_id),
            ).fetchone()
        if r is None:
            return None
        return StoredFace(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]), np.frombuffer(r[6], dtype=np.float32)

    def faces_by_id(self, collection_id: str, face_ids: list[str]) -> dict[str, StoredFace]:
        out = {}
        with self._conn() as con:
            for face_id in face_ids:
                r = con.execute(
                    "SELECT face_id, external_image_id, image_id, bbox, confidence, indexed_at FROM faces"
                    " WHERE collection_id = ? AND face_id = ?",
                    (collection_id, face_id),
                ).fetchone()
                if r:
                    out[r[0]] = StoredFace(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5])
        return out

    # --- search --------------------------------------------------------------------
    def search_index(self, collection_id: str) -> SearchIndex:
        """The collection's search index, brought up to date with what any process wrote:
        only the faces added and deleted since this process last looked are applied."""
        with self._conn() as con:
            row = con.execute(
                "SELECT created, generation FROM collections WHERE collection_id = ?", (collection_id,)
            ).fetchone()
            if row is None:
                raise CollectionNotFound(f"collection {collection_id!r} does not exist")
            created, generation = row
            cached = self._cache.get(collection_id)
            if cached is not None and cached.created == created and cached.generation == generation:
                return cached
            with self._cache_lock:  # one refresh at a time; the others then find it current
                cached = self._cache.get(collection_id)
                if cached is not None and cached.created == created and cached.generation == generation:
                    return cached
                if (
                    cached is not None
                    and cached.created == created
                    and cached.generation < generation
                    and self._catch_up(con, collection_id, cached, generation)
                ):
                    return cached
                index = SearchIndex(generation, created)
                # Read ids and vectors in one snapshot so they line up.
                rows = con.execute(
                    "SELECT seq, face_id, vector FROM faces WHERE collection_id = ? ORDER BY seq", (collection_id,)
                ).fetchall()
                if rows:
                    index.append(
                        [r[0] for r in rows],
                        [r[1] for r in rows],
                        np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1),
                    )
                self._cache[collection_id] = index
                return index

    @staticmethod
    def _catch_up(con, collection_id: str, index: SearchIndex, generation: int) -> bool:
        """Apply the deletions and additions since ``index.generation`` (inside the caller's read
        snapshot). False when the index cannot be brought up to date that way (reload it)."""
        last_seq = index.last_seq
        deleted = [  # faces both added and deleted since are in neither list
            r[0]
            for r in con.execute(
                "SELECT seq FROM face_deletions WHERE collection_id = ? AND generation > ? AND seq <= ?",
                (collection_id, index.generation, last_seq),
            )
        ]
        added = con.execute(
            "SELECT seq, face_id, vector FROM faces WHERE collection_id = ? AND seq > ? ORDER BY seq",
            (collection_id, last_seq),
        ).fetchall()
        (count,) = con.execute("SELECT COUNT(*) FROM faces WHERE collection_id = ?", (collection_id,)).fetchone()
        if len(index) - len(set(deleted)) + len(added) != count:
            return False  # e.g. a deletion by a version that kept no log: reload
        index.remove(deleted)
        if added:
            index.append(
                [r[0] for r in added],
                [r[1] for r in added],
                np.frombuffer(b"".join(r[2] for r in added), dtype=np.float32).reshape(len(added), -1),
            )
        if len(index) != count:
            return False
        index.generation = generation
        return True


class _Tx:
    """``with`` gives a connection inside one transaction: COMMIT on success, ROLLBACK on error;
    then the connection goes back to the pool."""

    def __init__(self, con: sqlite3.Connection, write: bool, release):
        self.con = con
        self.write = write
        self.release = release

    def __enter__(self) -> sqlite3.Connection:
        # Writers take the lock up front (no upgrade deadlocks); readers get a WAL snapshot.
        try:
            self.con.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
        except BaseException:
            self.release(self.con)
            raise
        return self.con

    def __exit__(self, exc_type, exc, tb):
        try:
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")
        except BaseException:
            self.con.close()  # its transaction state is unknown: never reuse it (close rolls back)
            raise
        self.release(self.con)
        return False
