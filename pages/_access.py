"""The browser session's sign-in, for the router and the admin page (logic in ``core.access``).

The session token lives in ``st.session_state`` (server-side, per browser tab); the session
itself in ``core.access.AccessControl``. With ``[auth]`` in ``.streamlit/secrets.toml`` the
sign-in is Streamlit's OIDC ``st.login`` instead of the admin password.
"""

from __future__ import annotations

import streamlit as st

from core import access

SESSION_KEY = "facegate_session"
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


def browser_session(settings) -> access.Session | None:
    """The live session of this browser tab, or None (an anonymous viewer)."""
    ctl = access.access_control(settings)
    session = ctl.session(st.session_state.get(SESSION_KEY))
    if oidc_configured() and st.user.is_logged_in:
        email = st.user.get("email")
        if session is None or session.via != "oidc" or session.user != email:
            try:
                session = ctl.oidc_session(email)
            except access.AccessDenied:
                return None
            st.session_state[SESSION_KEY] = session.token
    elif session is None:
        st.session_state.pop(SESSION_KEY, None)
    return session


def remember(session: access.Session) -> None:
    st.session_state[SESSION_KEY] = session.token


def sign_out(settings) -> None:
    access.access_control(settings).sign_out(st.session_state.pop(SESSION_KEY, None))
    if oidc_configured() and st.user.is_logged_in:
        st.logout()
