"""Access keys for the AWS-compatible endpoint: what ``aws configure`` would be given.

``python -m core aws-credentials create --name NAME --role admin|device`` issues an access key
id (``FGAK`` + 16 characters, so nobody mistakes it for a real AWS key) and a 40-character
secret, shown once. They live in ``<data dir>/aws/credentials.json`` (owner-only, in an
owner-only folder).

The secret itself is stored, not a hash: SigV4 signs with an HMAC key derived from the
secret, the date, the region and the service, so the server must hold the secret to check a
signature (AWS does the same). Anyone who can read the data dir can already read every face
photo, so encrypting it with a key kept beside it would add nothing.

Roles (``core.awsapi.policy`` says what each may do): ``admin`` for the operator's CLI (the
course's step 1 user), ``device`` for the course's device scripts (upload photos, publish logs,
search). The credential's name is also its identity on the MQTT broker (IoT Data Publish).
Revoking, or an expiry date passing, takes effect at once on the running endpoint (the file is
re-read when it changes).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.config import DEVICE_ID_PATTERN
from core.errors import InvalidParameter, ResourceNotFound
from core.storage.files import atomic_write_bytes, ensure_dir

ROLES = ("admin", "device")
KEY_PREFIX = "FGAK"
_KEY_ALPHABET = string.ascii_uppercase + "234567"  # base32, as AWS key ids look
_TIME = "%Y-%m-%dT%H:%M:%SZ"


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(t: datetime) -> str:
    return t.strftime(_TIME)


@dataclass(frozen=True)
class Credential:
    """One access key. ``secret_access_key`` never leaves this module except on creation."""

    access_key_id: str
    secret_access_key: str
    name: str
    role: str
    created: str
    expires: str | None = None
    revoked: str | None = None

    def public(self) -> dict:
        """For listings: everything but the secret, plus whether it can be used now."""
        out = asdict(self)
        out.pop("secret_access_key")
        out["state"] = self.state()
        return out

    def state(self, now: datetime | None = None) -> str:
        """ "active", "revoked" or "expired"."""
        if self.revoked:
            return "revoked"
        if self.expires and datetime.strptime(self.expires, _TIME).replace(tzinfo=UTC) <= (now or _now()):
            return "expired"
        return "active"


class CredentialStore:
    """The credentials file, re-read when it changes (revocation is immediate)."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "aws" / "credentials.json"
        self._lock = threading.Lock()
        self._cache: tuple[int, int, dict[str, Credential]] | None = None

    def _read(self) -> dict[str, Credential]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        with self._lock:
            if self._cache and self._cache[:2] == (st.st_mtime_ns, st.st_size):
                return self._cache[2]
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                found = {c["access_key_id"]: Credential(**c) for c in raw.get("credentials", [])}
            except (OSError, ValueError, TypeError, KeyError) as exc:
                # A broken file must lock everybody out, never let everybody in.
                raise InvalidParameter(f"{self.path} is not a valid credentials file: {exc}") from None
            self._cache = (st.st_mtime_ns, st.st_size, found)
            return found

    def _update(self, change):
        """Apply ``change(list[Credential]) -> (list, result)`` under a cross-process lock."""
        ensure_dir(self.path.parent)
        fd = os.open(self.path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                self._cache = None
            creds, result = change(list(self._read().values()))
            data = json.dumps({"credentials": [asdict(c) for c in creds]}, indent=2).encode()
            atomic_write_bytes(self.path, data)
            with self._lock:
                self._cache = None
            return result
        finally:
            os.close(fd)

    # --- operations ------------------------------------------------------------------
    def create(self, name: str, role: str = "device", expires_in_days: float | None = None) -> Credential:
        """Issue a key for ``name`` (its broker identity too) with ``role``. Returns the whole
        credential, secret included; it is shown once. Raises InvalidParameter."""
        if not isinstance(name, str) or not DEVICE_ID_PATTERN.match(name):
            raise InvalidParameter(f"name must match [a-zA-Z0-9_:-]{{1,128}} (it is an MQTT identity), not {name!r}")
        if role not in ROLES:
            raise InvalidParameter(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        expires = None
        if expires_in_days is not None:
            if not 0 < expires_in_days <= 3650:
                raise InvalidParameter("expires_in_days must be more than 0 and at most 3650")
            expires = _stamp(_now() + timedelta(days=expires_in_days))
        cred = Credential(
            access_key_id=KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secret_access_key=secrets.token_urlsafe(30),  # 40 characters, as AWS secrets are
            name=name,
            role=role,
            created=_stamp(_now()),
            expires=expires,
        )
        self._update(lambda creds: ([*creds, cred], None))
        return cred

    def revoke(self, key_or_name: str) -> list[Credential]:
        """Revoke by access key id, or every active key of a name. Returns what was revoked;
        raises ResourceNotFound when nothing matches."""

        def change(creds):
            hit = []
            for i, c in enumerate(creds):
                if (c.access_key_id == key_or_name or c.name == key_or_name) and c.revoked is None:
                    creds[i] = Credential(**{**asdict(c), "revoked": _stamp(_now())})
                    hit.append(creds[i])
            if not hit:
                raise ResourceNotFound(f"no active access key with id or name {key_or_name!r}")
            return creds, hit

        return self._update(change)

    def list(self) -> list[Credential]:
        """Every credential, revoked and expired ones included, oldest first."""
        return sorted(self._read().values(), key=lambda c: c.created)

    def lookup(self, access_key_id: str) -> Credential | None:
        """The credential with this id in any state (the caller tells revoked from unknown by
        ``state()``), or None."""
        if not isinstance(access_key_id, str) or len(access_key_id) > 128:
            return None
        return self._read().get(access_key_id)
