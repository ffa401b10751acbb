"""The admin password's hash: making one and checking a password against it.

Hashes are self-describing strings (argon2id when ``argon2-cffi`` is installed, else
scrypt), so ``FACEGATE_ADMIN_PASSWORD_HASH`` and ``<data dir>/access.json`` hold one value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os

from core.errors import InvalidParameter

log = logging.getLogger(__name__)

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # hashing megabytes on request would be a denial of service
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def _argon2():
    try:
        from argon2 import PasswordHasher  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return None
    return PasswordHasher()


def hash_password(password: str) -> str:
    """A self-describing hash of ``password`` (argon2id if available, else scrypt).
    Raises InvalidParameter for a password that is too short or too long."""
    check_password(password)
    hasher = _argon2()
    if hasher is not None:
        return hasher.hash(password)
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a hash from ``hash_password``). Never raises
    for a wrong or malformed input: a broken hash simply matches nothing."""
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD_CHARS or not stored:
        return False
    if stored.startswith("$argon2"):
        hasher = _argon2()
        if hasher is None:
            log.error("the admin password hash is argon2 but argon2-cffi is not installed")
            return False
        try:
            return bool(hasher.verify(stored, password))
        except Exception:  # noqa: BLE001 - argon2 raises VerifyMismatchError, InvalidHash, ...
            return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(digest)),
        )
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


class PasswordRejected(InvalidParameter):
    """A new admin password that is too short or too long (``low``/``high`` say the bounds)."""

    low, high = MIN_PASSWORD_CHARS, MAX_PASSWORD_CHARS


def check_password(password) -> None:
    """Raises PasswordRejected unless MIN_PASSWORD_CHARS <= len <= MAX_PASSWORD_CHARS."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise PasswordRejected(f"the admin password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejected(f"the admin password may have at most {MAX_PASSWORD_CHARS} characters")
