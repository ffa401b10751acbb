"""The browser session's sign-in, for the router and the admin page (logic in ``core.access``).

The session token lives in ``st.session_state`` (server-side, per browser tab); the session
itself in ``core.access.AccessControl``. With ``[auth]`` in ``.streamlit/secrets.toml`` the
sign-in is Streamlit's OIDC ``st.login`` instead of the admin password.
"""

from __future__ import annotations

import functools

import streamlit as st

from core.access import sessions
from core.app import i18n
from pages._shared import get_settings

i18n.register(
    {
        "admin.title": ("管理者", "Administrator"),
        "admin.intro": (
            "登録・名前の変更・削除・照合の訂正・設定の変更・撮影履歴の閲覧は管理者だけができます。"
            "カメラは誰でも使えます。",
            "Only an administrator may enrol, rename, delete, correct matches, change settings or see "
            "the capture history. Anyone may use the camera.",
        ),
        "admin.signed_in": (
            "{user} としてログイン中（{via}）。{minutes} 分操作がないとログアウトします。",
            "Signed in as {user} ({via}). Idle for {minutes} minutes signs you out.",
        ),
        "admin.sign_out": ("ログアウト", "Sign out"),
        "admin.password": ("管理者パスワード", "Administrator password"),
        "admin.sign_in": ("ログイン", "Sign in"),
        "admin.setup": ("最初に管理者パスワードを決めてください。", "First, choose the administrator password."),
        "admin.setup_help": (
            "セットアップコードはこのコンピューターのファイル {path} にあります"
            "（または `python -m core access set-password` を実行）。",
            "The setup code is in the file {path} on this computer (or run `python -m core access set-password`).",
        ),
        "admin.setup_code": ("セットアップコード", "Setup code"),
        "admin.new_password": ("新しいパスワード（10 文字以上）", "New password (at least 10 characters)"),
        "admin.repeat": ("もう一度", "Repeat it"),
        "admin.mismatch": ("2 つのパスワードが一致しません。", "The two passwords differ."),
        "admin.set": ("設定してログイン", "Set and sign in"),
        "admin.change": ("パスワードを変更", "Change the password"),
        "admin.changed": (
            "パスワードを変更しました。ほかのログインは終了しました。",
            "Password changed. Every other sign-in has ended.",
        ),
        "admin.secrets": (
            "パスワードは FACEGATE_ADMIN_PASSWORD_HASH で管理されています。",
            "The password is managed by FACEGATE_ADMIN_PASSWORD_HASH.",
        ),
        "admin.oidc": ("組織のアカウントでログイン", "Sign in with your organisation's account"),
        "admin.oidc_viewer": (
            "{user} でログイン中ですが管理者ではありません（FACEGATE_ADMIN_EMAILS）。",
            "Signed in as {user}, who is not an administrator (FACEGATE_ADMIN_EMAILS).",
        ),
    }
)


SESSION_KEY = "facegate_session"
_ACTING_KEY = "facegate_acting"  # who the last full run acted as (the router sets it)
COOKIE = "facegate_session"
DEVICE_COOKIE = "facegate_device"  # a known device: sign-in throttling does not slow it for others' failures
_DEVICE_PENDING = "facegate_device_pending"
_COOKIE_PENDING = "facegate_cookie_pending"
# Pages only an admin sees in the navigation; Streamlit runs no page that is not in it, and the
# core functions behind people, history and settings refuse viewers as well. Analytics and
# QuickSight show who came when (auth and door logs name people).
ADMIN_PAGES = ("people", "history", "analytics", "quicksight", "settings")


def oidc_configured() -> bool:
    """True when ``[auth]`` is configured for ``st.login``."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def client_address() -> str:
    """Who is signing in, for throttling (the remote address when Streamlit knows it)."""
    try:
        return st.context.ip_address or "local"
    except Exception:  # noqa: BLE001 - no request context (AppTest)
        return "local"


def _cookie_token() -> str | None:
    """The sign-in cookie this browser sent when it connected (a reload, a new tab)."""
    try:
        return st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser connection (AppTest, bare mode)
        return None


def device_token() -> str | None:
    """The known-device token this browser sent (core.access.sessions.remember_device)."""
    try:
        return st.context.cookies.get(DEVICE_COOKIE)
    except Exception:  # noqa: BLE001 - no browser connection (AppTest, bare mode)
        return None


def browser_session(settings, *, touch: bool = True) -> sessions.Session | None:
    """The live session of this browser tab, or None (an anonymous viewer). A password
    sign-in survives a reload through a cookie holding the session token (the session itself
    stays on the server and still expires there). ``touch=False``: a check that does not
    count as use (a fragment refreshing itself)."""
    ctl = sessions.access_control(settings)
    token = st.session_state.get(SESSION_KEY)
    session = ctl.session(token, touch=touch)
    if session is None and token is None:
        session = ctl.session(_cookie_token(), touch=touch)
        if session is not None:
            st.session_state[SESSION_KEY] = session.token
    if oidc_configured() and st.user.is_logged_in:
        email = st.user.get("email")
        if session is None or session.via != "oidc" or session.user != email:
            try:
                session = ctl.oidc_session(email)
            except sessions.AccessDenied:
                return None
            st.session_state[SESSION_KEY] = session.token
    elif session is None:
        st.session_state.pop(SESSION_KEY, None)
    return session


def remember(session: sessions.Session) -> None:
    """Keep ``session`` for this tab and, through cookies, for reloads and new tabs; mark this
    browser a known device (a password sign-in)."""
    st.session_state[SESSION_KEY] = session.token
    st.session_state[_COOKIE_PENDING] = (session.token, max(0, int(session.expires_at - session.control.clock())))
    if session.via == "password" and session.control is not None:
        st.session_state[_DEVICE_PENDING] = session.control.remember_device(session)


def sign_out(settings) -> None:
    sessions.access_control(settings).sign_out(st.session_state.pop(SESSION_KEY, None))
    st.session_state[_COOKIE_PENDING] = ("", 0)
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def write_sign_in_cookie() -> None:
    """Set (after a sign-in) or clear (after a sign-out) the sign-in cookie in this browser.
    Streamlit cannot set cookies from the server, so a line of JavaScript does; SameSite=Strict,
    Secure over https, gone when the session would expire anyway."""
    pending = st.session_state.pop(_COOKIE_PENDING, None)
    if pending is None:
        return
    token, max_age = pending
    cookies = [(COOKIE, token, int(max_age))]
    device = st.session_state.pop(_DEVICE_PENDING, None)
    if device:
        cookies.append((DEVICE_COOKIE, device, sessions.DEVICE_DAYS * 86400))
    script = (
        "<script>"
        + "".join(
            f"document.cookie = '{name}={value}; path=/; max-age={age}; SameSite=Strict'"
            " + (location.protocol === 'https:' ? '; Secure' : '');"
            for name, value, age in cookies
        )
        + "</script>"
    )
    with st.container(height=1, border=False, key="sign_in_cookie"):
        st.html(script, unsafe_allow_javascript=True)


def sign_in_panel(settings) -> None:
    """The way in for someone who is not an admin (yet): the organisation's sign-in (OIDC), the
    first-run password setup, or the password. On the admin page and on any admin page's URL
    opened without a sign-in; after signing in the same URL shows the page itself."""
    from pages._shared import run_action, tr  # noqa: PLC0415 (pages._shared imports this module)

    ctl = sessions.access_control(settings)
    if oidc_configured():
        if st.user.is_logged_in:
            st.warning(tr("admin.oidc_viewer", user=st.user.get("email") or "?"))
            if st.button(tr("admin.sign_out"), key="admin_sign_out"):
                sign_out(settings)
        elif st.button(tr("admin.oidc"), key="admin_oidc", type="primary"):
            st.login()
    elif ctl.password_source() == "unset":
        st.warning(tr("admin.setup"))
        st.caption(tr("admin.setup_help", path=ctl.setup_code_file()))
        with st.form("admin_setup_form"):
            code = st.text_input(tr("admin.setup_code"), key="admin_setup_code")
            new = st.text_input(tr("admin.new_password"), type="password", key="admin_setup_new")
            again = st.text_input(tr("admin.repeat"), type="password", key="admin_setup_again")
            if st.form_submit_button(tr("admin.set"), type="primary"):
                if new != again:
                    st.error(tr("admin.mismatch"))
                elif run_action(ctl.set_admin_password, new, setup_code=code, client=client_address()) is not None:
                    signed = run_action(ctl.sign_in, new, client_address(), device_token())
                    if signed is not None:
                        remember(signed)
                        st.rerun()
    else:
        with st.form("admin_sign_in_form"):
            password = st.text_input(tr("admin.password"), type="password", key="admin_password")
            if st.form_submit_button(tr("admin.sign_in"), type="primary"):
                signed = run_action(ctl.sign_in, password, client_address(), device_token())
                if signed is not None:
                    remember(signed)
                    st.rerun()


def note_acting(session: sessions.Session | None) -> None:
    """The router, on every full run: remember who this run acts as, for ``acting_fragment``."""
    st.session_state[_ACTING_KEY] = session.token if session is not None else ""


def acting_fragment(*, run_every: float | None = None):
    """``st.fragment`` whose every run, a fragment-only rerun included, checks again who is
    acting. A fragment rerun does not pass through the router, so without this it would keep
    the rights of the full run that drew it: an open Logs tab kept streaming admin-only logs
    after a sign-out or the idle expiry. The body runs inside ``acting_as`` the live session
    (checked without counting as use, so an unattended tab still expires); when that is no
    longer who the page was drawn for, the whole app runs again instead (navigation, tabs and
    data for who acts now)."""

    def wrap(body):
        @functools.wraps(body)
        def run(*args, **kwargs):
            session = browser_session(get_settings(), touch=False)
            drawn_for = st.session_state.get(_ACTING_KEY)
            if drawn_for is not None and drawn_for != (session.token if session is not None else ""):
                st.rerun()
            with sessions.acting_as(session):
                return body(*args, **kwargs)

        return st.fragment(run, run_every=run_every)

    return wrap
