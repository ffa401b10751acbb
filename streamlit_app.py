"""FaceGate's router: the shared chrome once (language, world and health, device, phone QR),
then ``st.navigation`` over the pages that exist."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.access import sessions
from core.app import i18n
from core.errors import FaceGateError
from pages._access import ADMIN_PAGES, browser_session, write_sign_in_cookie
from pages._shared import default_language, get_services, get_settings, preload_chart_library, show_error, tr

HERE = Path(__file__).resolve().parent

i18n.register(
    {
        "nav.camera": ("カメラ", "Camera"),
        "nav.people": ("登録者", "People"),
        "nav.history": ("履歴", "History"),
        "nav.logs": ("ログ", "Logs"),
        "nav.analytics": ("分析", "Analytics"),
        "nav.quicksight": ("QuickSight", "QuickSight"),
        "nav.settings": ("設定", "Settings"),
        "nav.admin": ("管理者", "Admin"),
        "chrome.world.local": ("ローカル", "local"),
        "chrome.world.aws": ("AWS", "AWS"),
        "chrome.status": ("{world} · 端末 {device} · {state}", "{world} · device {device} · {state}"),
        "chrome.all_ok": ("正常", "all OK"),
        "chrome.problems": ("{n} 件の問題", "{n} problem(s)"),
        "chrome.phone": ("スマートフォンで開く", "Open on a phone"),
        "chrome.phone_help": (
            "この QR コードを読み取ってください。カメラは https でのみ使えます（make run-https）。",
            "Scan this QR code. Phones allow the camera only over https (make run-https).",
        ),
        "health.faces": ("顔コレクション", "Face collection"),
        "health.objects": ("写真ストレージ", "Photo storage"),
        "health.publisher": ("ログ送信", "Log publishing"),
        "health.events": ("ログ保存", "Log store"),
    }
)

# (file, url path, title key, icon); a page joins the navigation only when its file exists, so a
# page still being written elsewhere never breaks the app.
PAGES = [
    ("pages/camera.py", "camera", "nav.camera", "📷"),
    ("pages/people.py", "people", "nav.people", "🧑"),
    ("pages/history.py", "history", "nav.history", "🕘"),
    ("pages/logs.py", "logs", "nav.logs", "📜"),
    ("pages/analytics.py", "analytics", "nav.analytics", "📊"),
    ("pages/quicksight.py", "quicksight", "nav.quicksight", "📈"),
    ("pages/settings.py", "settings", "nav.settings", "⚙️"),
    ("pages/admin.py", "admin", "nav.admin", "🔑"),
]

st.set_page_config(page_title="FaceGate", page_icon="🚪", layout="centered")
# Phones: bigger tap targets, no horizontal scroll from wide content.
st.html("""<style>
  .stButton button, .stDownloadButton button, [data-testid="stCameraInputButton"] { min-height: 3rem; }
  [data-testid="stMainBlockContainer"] { padding-left: 1rem; padding-right: 1rem; max-width: 46rem; }
  [data-testid="stImage"] img { max-width: 100%; height: auto; }
  /* Our own page links: Streamlit folds its navigation into the sidebar on a phone. */
  .st-key-page_links a { padding: 0.4rem 0.6rem; border: 1px solid rgba(128,128,128,.35); border-radius: .5rem; }
</style>""")


@st.cache_data(ttl=20, show_spinner=False)
def _health(settings_key: str):
    from core.usecases.health import component_health

    return component_health(get_services())


def chrome(pages: list) -> None:
    try:
        settings = get_settings()
    except FaceGateError as exc:
        show_error(exc)
        st.stop()
    with st.container(horizontal=True, key="page_links", gap="small"):
        for page in pages:
            st.page_link(page)
    st.session_state.setdefault("lang", default_language(settings))
    # A constant label: a label that changed with the language would make a new widget and lose the choice.
    st.segmented_control(
        "言語 / Language",
        ["ja", "en"],
        key="lang",
        label_visibility="collapsed",
        required=True,
        format_func=lambda code: "日本語" if code == "ja" else "English",
    )
    health = _health(repr(settings))
    bad = [h for h in health if not h.ok]
    state = tr("chrome.all_ok") if not bad else tr("chrome.problems", n=len(bad))
    icon = "🟢" if not bad else "🔴"
    with st.expander(
        f"{icon} "
        + tr("chrome.status", world=tr(f"chrome.world.{settings.backend}"), device=settings.device_id, state=state),
        expanded=bool(bad),
    ):
        for h in health:
            st.markdown(f"{'✅' if h.ok else '❌'} **{tr('health.' + h.component)}** — `{h.detail}`")
        _phone_qr(settings)


def _phone_qr(settings) -> None:
    from core.app.lan import app_url, qr_png

    https = bool(st.get_option("server.sslCertFile"))
    url = app_url(int(st.get_option("server.port") or settings.app_port), https)
    st.markdown(f"**{tr('chrome.phone')}**: `{url}`")
    st.image(qr_png(url), width=180, caption=tr("chrome.phone_help"))


try:
    get_services()
except FaceGateError as exc:
    show_error(exc)
    st.stop()
# Who is acting: admin-only pages join the navigation only for an admin, and every page runs
# inside acting_as(session) so core's require_admin() sees the same answer (core.access).
session = browser_session(get_settings())
is_admin = sessions.is_admin(session)
pages = [
    st.Page(HERE / file, title=tr(title), icon=icon, url_path=url)
    for file, url, title, icon in PAGES
    if (HERE / file).exists() and (is_admin or url not in ADMIN_PAGES)
]
# Streamlit serves the default page only at "/", so "/" is a redirect and every page keeps its
# own URL (/camera, /people, ...). Navigation is the link row in the chrome, on every screen.
home = st.Page(lambda: st.switch_page(pages[0]), title="FaceGate", url_path="home", default=True)
navigation = st.navigation([home, *pages], position="hidden")
chrome(pages)
with sessions.acting_as(session):
    navigation.run()
write_sign_in_cookie()
if is_admin and any(page.url_path == "analytics" for page in pages):
    preload_chart_library()  # only an admin can open the chart pages
