"""Who may do what: roles, the local admin password, sessions, and the one admin check.

Two roles. A **viewer** (anyone who can open the app) may use the camera page. An **admin**
may also enrol, rename and delete people, correct matches, change settings and see other
people's captures. The check is ``require_admin()``, called by the core functions that do
those things (``core.usecases.people``, ``core.usecases.history``, ``core.config.save_user_settings``,
``core.usecases.retention``) — not only by hiding buttons — so a page that calls them without an
admin session gets ``AdminRequired`` whatever its widgets look like.

Who is acting is carried in a context variable: the router runs every page inside
``acting_as(session)`` for the browser session's sign-in (or none), and the CLI acts as the
**operator**, the OS user that owns the data directory and could read every file anyway.

Sign-in, local world and aws alike (the app runs on the operator's machine in both):

* an admin password, stored only as an argon2id hash (``core.access.passwords``). It comes
  from ``FACEGATE_ADMIN_PASSWORD_HASH`` (secrets.toml or environment;
  ``python -m core access hash-password`` makes one), else from ``<data dir>/access.json``
  set on first run — with the setup code from ``<data dir>/admin-setup-code`` (owner-only),
  so the first visitor on the LAN cannot claim the install — or with
  ``python -m core access set-password``, or once from ``FACEGATE_ADMIN_PASSWORD``;
* or Streamlit's OIDC ``st.login`` when ``[auth]`` is configured in secrets.toml: people
  whose e-mail is in ``FACEGATE_ADMIN_EMAILS`` are admins, everyone else signed in is a viewer.

Sessions expire after ``FACEGATE_SESSION_IDLE_MINUTES`` without use and after 12 hours in
any case; changing the password ends every other session.

Failed sign-ins and setup codes are throttled so that guessing is slow and nobody can lock the
owner out (figures in docs/security-and-privacy.md):

* per client: 5 free failures, then an exponential back-off (1 s, doubling, at most 15 min).
  The client is the connection's address (``FACEGATE_TRUSTED_PROXIES`` says which proxies'
  ``X-Forwarded-For`` counts); a **known device** (a browser that signed in before: the
  ``facegate_device`` cookie) is its own client, whatever address it shares with others.
* overall: once 30 failures from anyone fall within 10 min, clients the app does not know
  may try once per 2 s between them all (a slow-down, never a lockout); known devices are not
  slowed by other people's failures.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.access.passwords import check_password, hash_password, verify_password
from core.access.throttle import (  # noqa: F401 - the figures are re-exported for the docs and tests
    FREE_FAILURES,
    GLOBAL_FAILURES,
    GLOBAL_SPACING_S,
    GLOBAL_WINDOW_S,
    MAX_BACKOFF_S,
    SignInThrottle,
)
from core.errors import AccessDenied
from core.storage.files import atomic_write_bytes, ensure_dir

log = logging.getLogger(__name__)

VIEWER, ADMIN = "viewer", "admin"
MAX_SESSION_S = 12 * 3600
DEVICE_DAYS = 90  # a known device stays known this long after its last sign-in
MAX_DEVICES = 1000


class AdminRequired(AccessDenied):
    """The action needs an admin session and the caller has none (or it expired)."""


class AdminPasswordNotSet(AccessDenied):
    """No admin password exists yet: first-run setup is needed."""


class WrongSetupCode(AccessDenied):
    """The first-run setup code was not the one in ``<data dir>/admin-setup-code``."""


class WrongPassword(AccessDenied):
    """The admin password was not right (the UI says which of the two was wrong)."""


# --- sessions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    """Who is acting. Only ``AccessControl`` issues live ones; a hand-made Session is refused."""

    user: str
    role: str
    via: str  # password, oidc, setup, operator
    issued_at: float
    expires_at: float
    token: str = field(default="", repr=False)
    generation: int = 0
    control: AccessControl | None = field(default=None, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


class AccessControl:
    """The admin password, sessions and sign-in throttling of one data directory.

    Use ``access_control(settings)`` for the process-wide instance (sessions are kept in
    memory: a restart signs everybody out)."""

    def __init__(self, settings, clock=time.time):
        self.settings = settings
        self.clock = clock
        self.path = Path(settings.data_dir) / "access.json"
        self.setup_code_path = Path(settings.data_dir) / "admin-setup-code"
        self.idle_s = float(settings.session_idle_minutes) * 60
        self._lock = threading.RLock()
        self._sessions: dict[str, tuple[Session, float]] = {}  # token -> (session, last used)
        self._throttle = SignInThrottle(clock)
        self._devices: dict[str, float] = {}  # known-device token -> when it was issued

    # --- the stored password --------------------------------------------------------
    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A damaged file must not open the door: nobody signs in until it is fixed.
            log.error("%s is unreadable (%s); sign-in is disabled until it is repaired", self.path, exc)
            return {"admin_password_hash": "!unreadable", "generation": -1}

    def _write(self, data: dict) -> None:
        ensure_dir(self.path.parent)
        atomic_write_bytes(self.path, json.dumps(data, indent=2).encode())

    def password_source(self) -> str:
        """``secrets`` (FACEGATE_ADMIN_PASSWORD_HASH), ``file`` (access.json) or ``unset``.
        A one-time FACEGATE_ADMIN_PASSWORD is hashed into access.json here on first use."""
        if self.settings.admin_password_hash:
            return "secrets"
        with self._lock:
            data = self._read()
            if data.get("admin_password_hash"):
                return "file"
            if self.settings.admin_password:
                self._write(
                    {
                        "admin_password_hash": hash_password(self.settings.admin_password),
                        "set_at": self.clock(),
                        "generation": 1,
                        "set_by": "FACEGATE_ADMIN_PASSWORD",
                    }
                )
                self._drop_setup_code()
                log.warning("admin password set from FACEGATE_ADMIN_PASSWORD; remove that variable now")
                return "file"
        return "unset"

    def _stored(self) -> tuple[str, int]:
        if self.settings.admin_password_hash:
            return self.settings.admin_password_hash, 0
        self.password_source()
        data = self._read()
        return str(data.get("admin_password_hash") or ""), int(data.get("generation") or 0)

    def setup_code_file(self) -> Path | None:
        """Where the first-run setup code is (created owner-only when needed), or None when a
        password exists already."""
        if self.password_source() != "unset":
            return None
        with self._lock:
            if not self.setup_code_path.is_file():
                ensure_dir(self.setup_code_path.parent)
                atomic_write_bytes(self.setup_code_path, (secrets.token_hex(6) + "\n").encode())
            return self.setup_code_path

    def _drop_setup_code(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.setup_code_path.unlink()

    def set_admin_password(
        self, new_password: str, *, setup_code: str | None = None, session: Session | None = None, client: str = "local"
    ) -> int:
        """Set or change the local admin password. The first time it needs the setup code (or
        an admin/operator session); later an admin session. Ends every other session and
        returns the password's new generation number.

        Raises WrongSetupCode, AccessDenied (not an admin, or the password is managed in
        secrets), Throttled (too many wrong setup codes) and PasswordRejected (too short/long)."""
        source = self.password_source()
        if source == "secrets":
            raise AccessDenied("the admin password is set by FACEGATE_ADMIN_PASSWORD_HASH; change it there")
        client = "setup:" + str(client or "local")[:128]  # each client its own bucket (and the overall one)
        if source == "unset" and setup_code is not None:
            self._throttle.check(client)
            expected = ""
            with contextlib.suppress(OSError):
                expected = self.setup_code_path.read_text(encoding="utf-8").strip()
            if not expected or not hmac.compare_digest(expected.encode(), str(setup_code).strip().encode()):
                self._throttle.failed(client)
                raise WrongSetupCode("the setup code is not right")
        else:
            require_admin(session)
        check_password(new_password)
        with self._lock:
            generation = int(self._read().get("generation") or 0) + 1
            self._write(
                {"admin_password_hash": hash_password(new_password), "set_at": self.clock(), "generation": generation}
            )
            self._drop_setup_code()
            # Every other sign-in ends; the caller's own session and operator sessions stay.
            keep = (session or current_session() or Session("", "", "", 0, 0)).token
            self._sessions = {t: v for t, v in self._sessions.items() if t == keep or v[0].via == "operator"}
            if keep in self._sessions and self._sessions[keep][0].via == "password":
                mine, used = self._sessions[keep]
                self._sessions[keep] = (dataclasses.replace(mine, generation=generation), used)
            return generation

    # --- sign-in --------------------------------------------------------------------
    def sign_in(self, password: str, client: str = "local", device: str | None = None) -> Session:
        """An admin session for the right password. ``client``: the address it comes from;
        ``device``: the browser's known-device token (``remember_device``), if any, which is
        then the throttled client instead and is not slowed by other clients' failures.
        Raises AdminPasswordNotSet (first run), Throttled (too many failures: wait) and
        WrongPassword."""
        known = self.known_device(device)
        client = (
            f"device:{hashlib.sha256(str(device).encode()).hexdigest()[:16]}" if known else str(client or "local")[:128]
        )
        with self._lock:
            self._throttle.check(client, known=known)
        stored, generation = self._stored()
        if not stored:
            raise AdminPasswordNotSet("no admin password yet: set one first")
        ok = verify_password(password, stored)  # slow on purpose; outside the lock
        with self._lock:
            if not ok:
                self._throttle.failed(client)
                log.warning("failed admin sign-in from %s", client)
                raise WrongPassword("wrong password")
            self._throttle.succeeded(client)
            return self._issue("admin", ADMIN, "password", generation)

    def remember_device(self, session: Session | None) -> str:
        """A known-device token for the browser that just signed in as ``session`` (an admin's
        password session), valid DEVICE_DAYS after its last sign-in; kept in memory (a restart
        forgets known devices: they sign in as any client, slowed but never locked out)."""
        require_admin(session)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._devices[token] = self.clock()
            while len(self._devices) > MAX_DEVICES:
                self._devices.pop(next(iter(self._devices)))
        return token

    def known_device(self, device: str | None) -> bool:
        """True when ``device`` is a known-device token that has not expired."""
        if not device or not isinstance(device, str):
            return False
        with self._lock:
            seen = self._devices.get(device)
            return seen is not None and self.clock() - seen < DEVICE_DAYS * 86400

    def oidc_session(self, email: str | None) -> Session:
        """The session for someone signed in through ``st.login``: admin when ``email`` is in
        FACEGATE_ADMIN_EMAILS (case-insensitive), else viewer. Raises AccessDenied without an
        e-mail."""
        if not email:
            raise AccessDenied("the identity provider gave no e-mail address")
        admins = {e.strip().lower() for e in self.settings.admin_emails.split(",") if e.strip()}
        role = ADMIN if email.strip().lower() in admins else VIEWER
        return self._issue(email.strip(), role, "oidc", 0)

    def operator_session(self, who: str = "cli") -> Session:
        """An admin session for the operator: the OS user running the CLI or ``serve`` on the
        data directory (who can read every file anyway). Never for a browser or API caller."""
        return self._issue(f"operator:{who}", ADMIN, "operator", 0)

    def _issue(self, user: str, role: str, via: str, generation: int) -> Session:
        now = self.clock()
        token = secrets.token_urlsafe(32)
        session = Session(user, role, via, now, now + MAX_SESSION_S, token, generation, self)
        with self._lock:
            self._sessions[token] = (session, now)
            if len(self._sessions) > 10_000:  # sign-in spam must not grow memory without bound
                self._sessions.pop(next(iter(self._sessions)))
        return session

    def session(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session for ``token``, or None when unknown or expired. ``touch`` marks it
        used; a check that no person caused (a page refreshing itself) passes ``touch=False``
        so that an unattended open page still expires after the idle time."""
        if not token or not isinstance(token, str):
            return None
        with self._lock:
            entry = self._sessions.get(token)
            if entry is None:
                return None
            if not self._live(*entry):
                self._sessions.pop(token, None)
                return None
            if touch:
                self._sessions[token] = (entry[0], self.clock())
            return entry[0]

    def _live(self, session: Session, last_used: float) -> bool:
        now = self.clock()
        if now > session.expires_at or (session.via != "operator" and now - last_used > self.idle_s):
            return False
        if session.via == "password":
            return session.generation == self._stored()[1]
        return True

    def is_live(self, session: Session) -> bool:
        """True when ``session`` was issued here, is still registered and has not expired."""
        with self._lock:
            entry = self._sessions.get(session.token)
            return entry is not None and entry[0] is session and self._live(*entry)

    def sign_out(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)


_controls: dict[Path, AccessControl] = {}
_controls_lock = threading.Lock()


def access_control(settings) -> AccessControl:
    """The process-wide AccessControl for ``settings.data_dir`` (built once)."""
    key = Path(settings.data_dir).resolve()
    with _controls_lock:
        ctl = _controls.get(key)
        if ctl is None or ctl.settings != settings:
            # Settings changed (e.g. the admin hash in secrets): keep the live sessions.
            fresh = AccessControl(settings)
            if ctl is not None:
                fresh._sessions, fresh._throttle, fresh._devices = ctl._sessions, ctl._throttle, ctl._devices
            ctl = _controls[key] = fresh
        return ctl


# --- who is acting now --------------------------------------------------------------------
_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("facegate_session", default=None)


@contextlib.contextmanager
def acting_as(session: Session | None):
    """Run the block as ``session`` (None = an anonymous viewer)."""
    token = _current.set(session)
    try:
        yield session
    finally:
        _current.reset(token)


def current_session() -> Session | None:
    return _current.get()


def is_admin(session: Session | None = None) -> bool:
    """True when ``session`` (default: the current one) is a live admin session."""
    session = session if session is not None else current_session()
    return bool(
        session is not None and session.is_admin and session.control is not None and session.control.is_live(session)
    )


def require_admin(session: Session | None = None) -> Session:
    """The live admin session (``session`` or the current one). Raises AdminRequired when
    there is none, it is a viewer's, it expired, or it was not issued by AccessControl."""
    session = session if session is not None else current_session()
    if session is None:
        raise AdminRequired("sign in as an administrator to do this")
    if not is_admin(session):
        raise AdminRequired(
            "this needs an administrator; sign in again"
            if session.is_admin
            else "this needs an administrator; a viewer may only use the camera"
        )
    return session


def operator(settings, who: str = "cli"):
    """Context manager: act as the operator (see ``AccessControl.operator_session``)."""
    return acting_as(access_control(settings).operator_session(who))
