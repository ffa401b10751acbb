"""The admin password's hash: making one and checking a password against it.

scrypt (``hashlib.scrypt``, OpenSSL's memory-hard KDF; n=2**14, r=8, p=1: 16 MB and about
50 ms per check here), stored as one self-describing string
``scrypt$<n>$<r>$<p>$<salt b64>$<digest b64>`` in ``FACEGATE_ADMIN_PASSWORD_HASH`` or
``<data dir>/access.json``. Checking reads the parameters from the string, so raising them
later keeps old hashes valid. Why scrypt and not argon2: it is in the standard library, every
hash an installation holds today is scrypt (argon2-cffi was never a requirement, so the argon2
branch beside it never ran), and one scheme means one code path to get right.
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
_MAX_MEMORY = 256 * 1024 * 1024  # accept stored parameters up to n=2**17, r=8 (OWASP's minimum)


def hash_password(password: str) -> str:
    """A self-describing scrypt hash of ``password``. Raises InvalidParameter for a password
    that is too short or too long."""
    check_password(password)
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
        log.error("the admin password hash is argon2, which FaceGate no longer reads: set a new password")
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAX_MEMORY,
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
