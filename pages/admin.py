"""Admin sign-in: first-run password setup, sign in / out, change the password, or OIDC."""

from __future__ import annotations

import streamlit as st

from core.access import sessions
from core.app import i18n
from pages._access import browser_session, client_address, device_token, oidc_configured, remember, sign_out
from pages._shared import get_settings, run_action, through_router, tr

through_router()
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
elif oidc_configured():
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
