"""The local world's device registry: which certificates may connect, as whom, in what role.

IoT Core keeps a registry of things and certificates (``ACTIVE``/``INACTIVE``/``REVOKED``) and
checks it at every connect; so does the local broker, here. A certificate is identified like
IoT Core's ``certificateId``: the SHA-256 of its DER bytes, in hex. Each row binds it to one
thing name (its subject common name; the client id must equal it) and one role:

* ``device`` — may publish under the topic prefix, may not subscribe (the template's IoT
  policy grants devices ``iot:Connect`` and ``iot:Publish`` only);
* ``monitor`` — the app's own live view (``facegate-monitor``): may subscribe under the
  prefix, may not publish.

SQLite (WAL) under ``<data dir>/telemetry/pki/registry.db`` so the CLI (another process) can
revoke while the broker runs; the broker polls ``generation`` and ends revoked sessions.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from core.errors import InvalidParameter, ResourceNotFound
from core.storage.files import ensure_dir
from core.storage.sqlite import ThreadConnections

ROLES = ("device", "monitor")
ACTIVE, REVOKED = "ACTIVE", "REVOKED"
MONITOR_NAME = "facegate-monitor"
# Names the app keeps for its own identities; ``create-device`` refuses them.
RESERVED_PREFIX = "facegate-"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    certificate_id TEXT PRIMARY KEY,
    thing TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL,
    not_after TEXT
);
CREATE INDEX IF NOT EXISTS certificates_by_thing ON certificates(thing);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
"""


@dataclass(frozen=True)
class Identity:
    """Who sent a message: a thing name (``name``) in a ``role``, proved by a certificate
    (``certificate_id``) or, on the HTTPS path, by a credential (``certificate_id`` None)."""

    name: str
    role: str = "device"
    certificate_id: str | None = None


def certificate_id(cert_der: bytes) -> str:
    """IoT Core's certificate id: SHA-256 of the DER certificate, lower-case hex."""
    return hashlib.sha256(cert_der).hexdigest()


def _load(cert: bytes) -> x509.Certificate:
    try:
        if cert.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(cert)
        return x509.load_der_x509_certificate(cert)
    except ValueError:
        raise InvalidParameter("not an X.509 certificate (PEM or DER)") from None


def thing_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


class DeviceRegistry:
    def __init__(self, path: Path):
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self._db = ThreadConnections(self.path)
        with self._conn() as con:
            con.executescript(_SCHEMA)
        self.path.chmod(0o600)

    def _conn(self) -> sqlite3.Connection:
        return self._db.connection()

    def close(self) -> None:
        self._db.close()

    # -- writing ----------------------------------------------------------------------
    def register(self, cert: bytes, role: str = "device", *, only_if_new: bool = False) -> str:
        """Register a certificate (PEM or DER) as ``ACTIVE`` for the thing its common name
        names; returns its certificate id. ``only_if_new``: leave a known certificate as it is
        (a revoked one stays revoked). Raises ``InvalidParameter`` for a bad role or a
        certificate without a common name."""
        if role not in ROLES:
            raise InvalidParameter(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        parsed = _load(cert)
        thing = thing_name(parsed)
        if not thing:
            raise InvalidParameter("the certificate has no subject common name (the thing name)")
        cid = certificate_id(parsed.public_bytes(serialization.Encoding.DER))
        verb = "INSERT OR IGNORE" if only_if_new else "INSERT OR REPLACE"
        with self._conn() as con:
            added = con.execute(
                f"{verb} INTO certificates (certificate_id, thing, role, status, created, not_after) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, thing, role, ACTIVE, time.time(), parsed.not_valid_after_utc.isoformat()),
            ).rowcount
            if added:
                self._bump(con)
        return cid

    def revoke(self, thing: str, certificate: str | None = None) -> int:
        """Mark ``thing``'s certificates (or the one whose id starts with ``certificate``)
        ``REVOKED``; returns how many changed. Raises ``ResourceNotFound`` when none match."""
        with self._conn() as con:
            rows = self._match(con, thing, certificate)
            changed = con.execute(
                f"UPDATE certificates SET status = ?, revoked = ? WHERE status = ? AND certificate_id IN "
                f"({', '.join('?' * len(rows))})",
                (REVOKED, time.time(), ACTIVE, *rows),
            ).rowcount
            self._bump(con)
        return changed

    def delete(self, thing: str, certificate: str | None = None) -> int:
        """Forget ``thing``'s certificates (or one of them); returns how many. A deleted
        certificate is refused like an unknown one. Raises ``ResourceNotFound``."""
        with self._conn() as con:
            rows = self._match(con, thing, certificate)
            con.executemany("DELETE FROM certificates WHERE certificate_id = ?", [(r,) for r in rows])
            self._bump(con)
        return len(rows)

    @staticmethod
    def _match(con, thing: str, certificate: str | None) -> list[str]:
        sql, args = "SELECT certificate_id FROM certificates WHERE thing = ?", list[object]([thing])
        if certificate:
            sql += " AND substr(certificate_id, 1, ?) = ?"
            args += [len(certificate), certificate.lower()]
        rows = [r[0] for r in con.execute(sql, args)]
        if not rows:
            which = f" with certificate {certificate}" if certificate else ""
            raise ResourceNotFound(f"no device {thing!r}{which} in the registry")
        return rows

    @staticmethod
    def _bump(con) -> None:
        con.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")

    # -- reading ----------------------------------------------------------------------
    def generation(self) -> int:
        """A number that changes whenever a certificate is added, revoked or deleted."""
        return self._conn().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]

    def active(self) -> dict[str, Identity]:
        """certificate id -> identity, for every ``ACTIVE`` certificate."""
        rows = self._conn().execute("SELECT certificate_id, thing, role FROM certificates WHERE status = ?", (ACTIVE,))
        return {cid: Identity(thing, role, cid) for cid, thing, role in rows}

    def lookup(self, cid: str) -> Identity | None:
        """The identity of an ``ACTIVE`` certificate, or None (unknown, revoked, deleted)."""
        row = (
            self._conn()
            .execute("SELECT thing, role FROM certificates WHERE certificate_id = ? AND status = ?", (cid, ACTIVE))
            .fetchone()
        )
        return Identity(row[0], row[1], cid) if row else None

    def status_of(self, cid: str) -> str | None:
        row = self._conn().execute("SELECT status FROM certificates WHERE certificate_id = ?", (cid,)).fetchone()
        return row[0] if row else None

    def list(self) -> list[dict]:
        """Every registered certificate, by thing then creation time."""
        rows = self._conn().execute(
            "SELECT thing, certificate_id, role, status, created, revoked, not_after FROM certificates "
            "ORDER BY thing, created"
        )
        keys = ("device_id", "certificate_id", "role", "status", "created", "revoked", "not_after")
        return [dict(zip(keys, r, strict=True)) for r in rows]
