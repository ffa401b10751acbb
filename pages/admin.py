"""Admin sign-in: first-run password setup, sign in / out, change the password, or OIDC."""

from __future__ import annotations

import streamlit as st

from core.access import sessions
from pages._access import browser_session, sign_in_panel, sign_out
from pages._shared import get_settings, run_action, through_router, tr

through_router()


settings = get_settings()
ctl = sessions.access_control(settings)
session = browser_session(settings)
st.title(tr("admin.title"))
st.caption(tr("admin.intro"))
if "admin_flash" in st.session_state:
    st.success(st.session_state.pop("admin_flash"))

if session is not None and session.is_admin:
    st.info(tr("admin.signed_in", user=session.user, via=session.via, minutes=int(settings.session_idle_minutes)))
    if st.button(tr("admin.sign_out"), key="admin_sign_out"):
        sign_out(settings)
        st.rerun()
    if session.via == "password":
        if ctl.password_source() == "secrets":
            st.caption(tr("admin.secrets"))
        else:
            with st.form("admin_change_form"):
                new = st.text_input(tr("admin.new_password"), type="password", key="admin_change_new")
                again = st.text_input(tr("admin.repeat"), type="password", key="admin_change_again")
                if st.form_submit_button(tr("admin.change")):
                    if new != again:
                        st.error(tr("admin.mismatch"))
                    elif run_action(ctl.set_admin_password, new, session=session) is not None:
                        st.success(tr("admin.changed"))
else:
    sign_in_panel(settings)
