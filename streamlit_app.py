"""FaceGate's router: the shared chrome once (language, world and health, device, phone QR),
then ``st.navigation`` over the pages that exist."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.access import sessions
from core.app import i18n
from core.app.lan import phone_access, qr_png
from core.errors import FaceGateError
from core.storage.files import storage_full
from core.usecases.health import component_health
from pages._access import ADMIN_PAGES, browser_session, note_acting, sign_in_panel, write_sign_in_cookie
from pages._shared import (
    default_language,
    error_text,
    get_services,
    get_settings,
    preload_chart_library,
    remember_language,
    remembered_language,
    show_error,
    tr,
    translate_camera_widgets,
)

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
        "chrome.sign_in_needed": (
            "「{page}」は管理者だけが開けるページです。管理者としてサインインしてください"
            "（サインインの期限が切れた場合も、もう一度サインインしてください）。",
            "“{page}” is for administrators. Please sign in as an administrator (also when your sign-in has expired).",
        ),
        "chrome.phone": ("スマートフォンで開く", "Open on a phone"),
        "chrome.phone_help": (
            "スマートフォンのカメラでこの QR コードを読み取ってください。",
            "Scan this QR code with a phone.",
        ),
        "chrome.phone_how": (
            "スマートフォンで使うには、このコンピューターで `make run-https` を実行し、表示される QR コードを"
            "読み取ってください。",
            "To use a phone, run `make run-https` on this computer and scan the QR code it shows.",
        ),
        "chrome.phone_why.loopback": (
            "今はこのコンピューターからしか開けません（{address} で待ち受け中）。",
            "Right now only this computer can open the app (it listens on {address}).",
        ),
        "chrome.phone_why.http": (
            "今は http で動いています。スマートフォンは https でないとカメラを使わせません。",
            "It runs over plain http now, and phones allow the camera only over https.",
        ),
        "chrome.phone_why.no_network": (
            "このコンピューターは LAN につながっていません。",
            "This computer is not on a local network.",
        ),
        "health.faces": ("顔コレクション", "Face collection"),
        "health.objects": ("写真ストレージ", "Photo storage"),
        "health.publisher": ("ログ送信", "Log publishing"),
        "health.events": ("ログ保存", "Log store"),
        "health.say.faces_count": ("{collection}: 顔 {n} 件", "{collection}: {n} face(s)"),
        "health.say.faces_none": (
            "{collection}: まだありません（最初の登録で作られます）",
            "{collection}: not created yet (the first enrolment creates it)",
        ),
        "health.say.faces_count_engine": (
            "{collection}: 顔 {n} 件 · 顔エンジン `{engine}`",
            "{collection}: {n} face(s) · face engine `{engine}`",
        ),
        "health.say.faces_none_engine": (
            "{collection}: まだありません（最初の登録で作られます） · 顔エンジン `{engine}`",
            "{collection}: not created yet (the first enrolment creates it) · face engine `{engine}`",
        ),
        "health.say.objects_ok": ("{photos}, {faces}", "{photos}, {faces}"),
        "health.say.publisher_connected": (
            "{endpoint} に接続中 · 未送信 {outbox} 件",
            "connected to {endpoint} · {outbox} waiting",
        ),
        "health.say.publisher_connecting": ("{endpoint} に接続しています…", "connecting to {endpoint}…"),
        "health.say.publisher_idle": (
            "最初のログを送るときに接続します",
            "connects when the first log is sent",
        ),
        "health.say.publisher_direct": (
            "ブローカーなし: ログ保存に直接書き込みます",
            "no broker: logs go straight into the log store",
        ),
        "health.say.publisher_offline": (
            "{endpoint} に接続できません。未送信の {outbox} 件は保存済みで、接続が戻ると送られます。",
            "{endpoint} cannot be reached. The {outbox} waiting record(s) are kept and go out when it is back.",
        ),
        "health.say.events_ok": ("読み取りできます", "readable"),
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
  [data-testid="stMainBlockContainer"] { padding: 4rem 1rem 2rem; max-width: 46rem; }
  /* A phone: the camera's shutter and the verdict must fit one 390x844 screen. */
  @media (max-width: 640px) {
    h1 { font-size: 1.75rem !important; padding: 0.25rem 0 !important; }
    .st-key-page_links a { padding: 0.3rem 0.5rem; }
  }
  [data-testid="stImage"] img { max-width: 100%; height: auto; }
  /* Our own page links: Streamlit folds its navigation into the sidebar on a phone. */
  .st-key-page_links a { padding: 0.4rem 0.6rem; border: 1px solid rgba(128,128,128,.35); border-radius: .5rem; }
</style>""")


@st.cache_data(ttl=20, show_spinner=False)
def _health(settings_key: str):

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
    # This browser's last choice (a cookie: a reload starts a new session), else its languages.
    st.session_state.setdefault("lang", remembered_language() or default_language(settings))
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
    # Never opened by itself: on a phone an open panel pushed the camera's shutter off screen;
    # the red label already says there is a problem.
    with st.expander(
        f"{icon} "
        + tr("chrome.status", world=tr(f"chrome.world.{settings.backend}"), device=settings.device_id, state=state),
        expanded=False,
    ):
        for h in health:
            said = error_text(h.error) if h.error is not None else tr(f"health.say.{h.say}", **h.values)
            st.markdown(f"{'✅' if h.ok else '❌'} **{tr('health.' + h.component)}** — {said}")
        _phone_qr(settings)


def _phone_qr(settings) -> None:
    """The QR code only when a phone can use what it opens (https on a LAN address); else how."""

    address = st.get_option("server.address")
    port = int(st.get_option("server.port") or settings.app_port)
    access = phone_access(address, port, https=bool(st.get_option("server.sslCertFile")))
    if access.url is None:
        st.markdown(f"**{tr('chrome.phone')}**")
        st.caption(tr(f"chrome.phone_why.{access.why}", address=address) + " " + tr("chrome.phone_how"))
        return
    st.markdown(f"**{tr('chrome.phone')}**: `{access.url}`")
    st.image(qr_png(access.url), width=180, caption=tr("chrome.phone_help"))


try:
    get_services()
except FaceGateError as exc:
    show_error(exc)
    st.stop()
# Who is acting: admin-only pages join the navigation only for an admin, and every page runs
# inside acting_as(session) so core's require_admin() sees the same answer (core.access).
session = browser_session(get_settings())
note_acting(session)  # fragments compare who acts now with this (pages._access.acting_fragment)
is_admin = sessions.is_admin(session)
pages = [
    st.Page(HERE / file, title=tr(title), icon=icon, url_path=url)
    for file, url, title, icon in PAGES
    if (HERE / file).exists() and (is_admin or url not in ADMIN_PAGES)
]


def _sign_in_first(url: str, title: str, icon: str):
    """What a viewer gets at an admin page's URL (a bookmark, a session that expired): a
    sentence in their language and the way to sign in — not Streamlit's English "Page not
    found". The page itself is still not run for them (core refuses too: core.access)."""

    def page() -> None:
        st.title(f"{icon} {title}")
        st.warning(tr("chrome.sign_in_needed", page=title), icon="🔑")
        sign_in_panel(get_settings())  # signed in, this same URL shows the page

    page.__name__ = f"sign_in_for_{url}"  # each page needs its own name
    return st.Page(page, title=title, icon=icon, url_path=url)


locked = [
    _sign_in_first(url, tr(title), icon)
    for file, url, title, icon in PAGES
    if (HERE / file).exists() and not is_admin and url in ADMIN_PAGES
]
# Streamlit serves the default page only at "/", so "/" is a redirect and every page keeps its
# own URL (/camera, /people, ...). Navigation is the link row in the chrome, on every screen.
home = st.Page(lambda: st.switch_page(pages[0]), title="FaceGate", url_path="home", default=True)
navigation = st.navigation([home, *pages, *locked], position="hidden")
chrome(pages)
with sessions.acting_as(session):
    try:
        navigation.run()
    except Exception as exc:
        # A full disk, whatever raised it, is a sentence and not a traceback (issue 13 §14).
        if storage_full(exc, get_settings().data_dir) is None:
            raise
        show_error(exc)
# Scripts last: each sits in a 1 px box, which at the top would push the page down.
remember_language()
translate_camera_widgets()
write_sign_in_cookie()
if is_admin and any(page.url_path == "analytics" for page in pages):
    preload_chart_library()  # only an admin can open the chart pages
    get_services().events.warm_columnar()  # their data, loading in the background (once a process)
