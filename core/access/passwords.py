"""The admin password's hash: making one and checking a password against it.

argon2id through ``argon2-cffi`` (the library formats, salts and verifies the self-describing
``$argon2id$v=19$m=...,t=...,p=...$salt$digest`` string; nothing hand-formatted), with OWASP's
minimum parameters (19 MiB, 2 passes, 1 lane: about as costly as the scrypt it replaces, so a
sign-in stays well under a second on a small machine). The hash lives in
``FACEGATE_ADMIN_PASSWORD_HASH`` or ``<data dir>/access.json``; parameters are read from it,
so raising them later keeps old hashes valid.

Hashes an installation stored before (``scrypt$<n>$<r>$<p>$<salt>$<digest>``, hashlib's
scrypt) are still checked, so no admin is locked out by an upgrade; setting the password again
stores argon2id. Nothing new is ever hashed with scrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error, InvalidHashError

from core.errors import InvalidParameter

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # hashing megabytes on request would be a denial of service
# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_SCRYPT_MAX_MEMORY = 256 * 1024 * 1024  # stored scrypt parameters up to n=2**17, r=8


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted, parameters inside). Raises InvalidParameter
    for a password that is too short or too long."""
    check_password(password)
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a hash from ``hash_password``, or a scrypt
    hash stored by an earlier version). Never raises for a wrong or malformed input: a broken
    hash simply matches nothing."""
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_CHARS or not stored:
        return False
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (Argon2Error, InvalidHashError, ValueError):  # mismatch, a broken or foreign hash
        return False


def _verify_scrypt(password: str, stored: str) -> bool:
    """An earlier version's ``scrypt$n$r$p$salt$digest`` (read only; see the module's doc)."""
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_SCRYPT_MAX_MEMORY,
        )
        return hmac.compare_digest(got, expected)
    except (ValueError, TypeError):
        return False


class PasswordRejected(InvalidParameter):
    """A new admin password that is too short or too long (``low``/``high`` say the bounds)."""

    low, high = MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS


def check_password(password: object) -> None:
    """Raises PasswordRejected unless MIN_PASSWORD_CHARS <= len <= MAX_PASSWORD_CHARS."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(f"the admin password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejected(f"the admin password may have at most {MAX_PASSWORD_CHARS} characters")
