"""What every page shares: the services, the current language, error display.

Pages get ``Services`` only through ``get_services`` (the process's shared instance), so every
page and session shares one face engine per process.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from datetime import UTC, timedelta, timezone
from pathlib import Path

import streamlit as st

from core.access.passwords import PasswordRejected
from core.access.sessions import WrongPassword, WrongSetupCode
from core.app import i18n
from core.app.times import viewer_zone as zone_for
from core.bootstrap import Services, shared_services
from core.config import Settings, env_name, load_settings
from core.errors import FaceGateError
from core.storage.files import storage_full
from core.usecases.people import InvalidPersonName

i18n.register(
    {
        "people.bad_name": (
            "この名前は使えません。1〜64 文字で、改行などの制御文字を含めないでください。",
            "This name cannot be used: give 1 to 64 characters without control characters (such as line breaks).",
        ),
        "error.wrong_setup_code": (
            "セットアップコードが違います。このコンピューターのファイル admin-setup-code（データフォルダー内）の"
            "内容をそのまま入力してください。",
            "That setup code is not right. Enter the contents of the file admin-setup-code (in the data folder) "
            "on this computer.",
        ),
        "error.storage_full": (
            "データを保存するディスクがいっぱいです。空き容量を増やしてから、もう一度お試しください。",
            "The disk that holds FaceGate's data is full. Free some space, then try again.",
        ),
        "error.wrong_password": (
            "パスワードが違います。",
            "Wrong password.",
        ),
        "error.password_rejected": (
            "パスワードは {low} 文字以上 {high} 文字以下にしてください。",
            "The password needs {low} to {high} characters.",
        ),
        "common.not_available": ("取得できません", "not available"),
        "common.unknown_person": ("人物を特定できませんでした", "Could not identify the person"),
        "common.unknown_short": ("不明", "unknown"),
        "common.yes": ("はい", "yes"),
        "common.no": ("いいえ", "no"),
        "reason.NO_FACE": ("顔が見つかりません", "no face found"),
        "reason.EXCEEDS_MAX_FACES": ("顔が多すぎます（1 枚に 1 人）", "too many faces (one person per photo)"),
        "reason.EXTREME_POSE": ("顔の向きが斜めすぎます", "face turned too far"),
        "reason.LOW_BRIGHTNESS": ("暗すぎます", "too dark"),
        "reason.LOW_SHARPNESS": ("ぼやけています", "too blurry"),
        "reason.LOW_CONFIDENCE": ("顔として確信が持てません", "not clearly a face"),
        "reason.SMALL_BOUNDING_BOX": ("顔が小さすぎます（近づいてください）", "face too small (move closer)"),
        "reason.LOW_FACE_QUALITY": ("顔の品質が低すぎます", "face quality too low"),
    }
)


def through_router() -> None:
    """Make sure this page runs inside ``streamlit_app.py`` (the chrome, the navigation, the
    caller's session). Every page calls this first (tests/app/test_pages_structure.py checks).

    Why: the layout keeps pages in ``pages/``, the folder name Streamlit's legacy multipage mode
    looks for. Streamlit ignores that folder once any session has run ``st.navigation``
    (documented), but decides per process before the router has run, so a first request that
    deep-links (``/people`` right after start-up, or an AppTest ``switch_page``) runs the page
    bare. There is no public switch for it (Streamlit's advice is to rename the folder), so the
    flag ``st.navigation`` itself sets is set here, in this one place, and the run starts over
    through the router."""
    try:
        from streamlit.runtime.pages_manager import PagesManager  # noqa: PLC0415 (Streamlit's private module: absent in a future Streamlit)
    except ImportError:  # a future Streamlit without the legacy mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def get_settings() -> Settings:
    """Current settings (re-read each run so the settings page takes effect). Raises ConfigError."""
    return load_settings()


def get_services() -> Services:
    """The services for the current settings, built once per process per settings and shared
    with the app's start-up warm-up (``core.bootstrap.shared_services``)."""
    return shared_services(get_settings())


_PRELOAD_JS = """<script>
(() => {
  if (window.__facegateChartsPreloaded) return;
  window.__facegateChartsPreloaded = true;
  const index = document.querySelector('script[type="module"][src*="/static/js/"]');
  if (!index) return;
  const url = new URL("%s", index.src).href;
  const load = () => import(url).catch(() => {});
  (window.requestIdleCallback || ((f) => setTimeout(f, 1500)))(load, {timeout: 4000});
})();
</script>"""


@functools.cache
def _plotly_chunk() -> str | None:
    """The file name of Streamlit's plotly chunk (looked up once per process)."""

    chunks = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return chunks[0].name if chunks else None


def preload_chart_library() -> None:
    """Let the browser load Streamlit's plotly chunk while it is idle on another page.

    Why: the chunk is 4.7 MB of JavaScript that takes ~1.8 s to evaluate on these 2 cores, which
    was most of the Analytics page's first render in a browser (bench/analytics.py). A dynamic
    import of the same URL puts it in the page's module map, so Streamlit's own lazy import
    later finds it ready. Nothing happens when this Streamlit names the chunk differently."""
    chunk = _plotly_chunk()
    if chunk:
        with st.container(height=1, border=False, key="chart_preload"):
            st.html(_PRELOAD_JS % chunk, unsafe_allow_javascript=True)


def lang() -> str:
    """The language chosen in the header (``ja`` / ``en``)."""
    return st.session_state.get("lang") or default_language(get_settings())


def default_language(settings: Settings) -> str:
    try:
        accept = st.context.headers.get("Accept-Language")
    except Exception:  # noqa: BLE001 - no request context (tests, bare mode)
        accept = None
    return i18n.pick_language(settings.language, accept)


def tr(key: str, /, **values) -> str:
    return i18n.t(key, lang(), **values)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|<>~$])")


def md(text: str) -> str:
    """``text`` (a person's name, typed by someone) safe inside Markdown: shown as typed, never
    as formatting, a link or a formula (every Streamlit text element renders Markdown)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def viewer_zone():
    """The viewer's time zone as the browser reports it (IANA name, else its UTC offset), or
    ``FACEGATE_TIMEZONE`` when there is no browser (tests, bare mode)."""

    try:
        name, offset = st.context.timezone, st.context.timezone_offset
    except Exception:  # noqa: BLE001 - no browser context
        name, offset = None, None
    if not name and offset is not None:  # JavaScript's getTimezoneOffset: UTC minus local, in minutes
        return timezone(-timedelta(minutes=int(offset)))
    return zone_for(name, get_settings().timezone)


def local_time(when, fmt: str = "%Y-%m-%d %H:%M:%S", zone: bool = True) -> str:
    """``when`` (an aware datetime) in the viewer's zone, with the zone's name (``JST``, ``UTC``)
    unless ``zone`` is False (a date alone); a time out of the calendar's range (a device's
    clock) is shown in UTC, never raised on."""
    try:
        local = when.astimezone(viewer_zone())
    except (OverflowError, ValueError):
        local = when.astimezone(UTC)
    return f"{local.strftime(fmt)} {local.tzname() or ''}".strip() if zone else local.strftime(fmt)


def error_text(exc: BaseException) -> str:
    """The user's sentence for ``exc``: the few errors whose code is shared with others but
    whose fix differs (which secret was wrong, why a name or password was refused) have their
    own text; every other domain error is mapped by its code (core.app.i18n)."""

    full = storage_full(exc)
    if full is not None:  # whatever raised it (an OSError, SQLite), said plainly
        return tr("error.storage_full")
    if isinstance(exc, InvalidPersonName):
        return tr("people.bad_name")
    if isinstance(exc, WrongSetupCode):
        return tr("error.wrong_setup_code")
    if isinstance(exc, WrongPassword):
        return tr("error.wrong_password")
    if isinstance(exc, PasswordRejected):
        return tr("error.password_rejected", low=exc.low, high=exc.high)
    return i18n.error_message(exc, lang())


def show_error(exc: BaseException) -> None:
    st.error(error_text(exc), icon="⚠️")


def reason_text(reasons: list[str]) -> str:
    return ", ".join(tr(f"reason.{r}") if i18n.t(f"reason.{r}") != f"reason.{r}" else r for r in reasons)


def env_overridden(names) -> list[str]:
    """Settings whose environment variable wins over what the settings page saves."""
    return [n for n in names if env_name(n) in os.environ]


def run_action(action, *args, **kwargs):
    """Call a core write action; show a domain error in the user's language and return None."""
    try:
        return action(*args, **kwargs)
    except FaceGateError as exc:
        show_error(exc)
        return None


# Streamlit's camera widget has fixed English text ("Take Photo", "Clear photo", the camera
# permission prompt) and no parameter for it (its ``label`` is only the label above). We chose a
# small script over a custom camera component: the widget stays Streamlit's own (AppTest can
# drive it, uploads and reruns work as before) and only its text nodes and aria labels are
# swapped for the user's language, again whenever React redraws them. When Streamlit renames a
# text, that text simply stays English.
_CAMERA_TEXT_KEYS = {
    "Take Photo": "camera_widget.take",
    "Clear photo": "camera_widget.clear",
    "Uploading...": "camera_widget.uploading",
    "This app would like to use your camera.": "camera_widget.permission",
    "Learn how to allow access.": "camera_widget.permission_help",
    "Switch camera": "camera_widget.switch",
}
i18n.register(
    {
        "camera_widget.take": ("📸 撮影する", "📸 Take Photo"),
        "camera_widget.clear": ("撮り直す", "Clear photo"),
        "camera_widget.uploading": ("送信中…", "Uploading..."),
        "camera_widget.permission": (
            "このアプリがカメラを使う許可を求めています。",
            "This app would like to use your camera.",
        ),
        "camera_widget.permission_help": ("許可のしかた", "Learn how to allow access."),
        "camera_widget.switch": ("カメラを切り替え", "Switch camera"),
    }
)
_CAMERA_TEXT_JS = """<script>
(() => {
  window.__fgCamText = %s;
  const original = window.__fgCamOriginal || (window.__fgCamOriginal = new WeakMap());
  const apply = () => {
    const text = window.__fgCamText;
    for (const root of document.querySelectorAll('[data-testid="stCameraInput"]')) {
      const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let node = walk.nextNode(); node; node = walk.nextNode()) {
        const source = original.has(node) ? original.get(node) : node.nodeValue;
        const key = source.trim();
        if (!(key in text)) continue;
        original.set(node, source);
        const want = source.replace(key, text[key]);
        if (node.nodeValue !== want) node.nodeValue = want;
      }
      for (const el of root.querySelectorAll('[aria-label], [title]')) {
        for (const attr of ['aria-label', 'title']) {
          const value = el.getAttribute(attr);
          if (!value) continue;
          const store = 'fgOriginal' + attr.replace('-', '');
          const key = el.dataset[store] || value;
          if (!(key in text)) continue;
          el.dataset[store] = key;
          if (value !== text[key]) el.setAttribute(attr, text[key]);
        }
      }
    }
  };
  window.__fgCamApply = apply;
  apply();
  if (!window.__fgCamObserver) {
    window.__fgCamObserver = new MutationObserver(() => window.__fgCamApply());
    window.__fgCamObserver.observe(document.body, {childList: true, subtree: true, characterData: true});
  }
})();
</script>"""


def translate_camera_widgets() -> None:
    """Put the camera widget's own buttons and prompts in the user's language (see above)."""

    text = {source: tr(key) for source, key in _CAMERA_TEXT_KEYS.items()}
    with st.container(height=1, border=False, key="camera_text"):
        st.html(_CAMERA_TEXT_JS % json.dumps(text, ensure_ascii=False), unsafe_allow_javascript=True)


def set_cookie(name: str, value: str, max_age_s: int) -> None:
    """Set a first-party cookie in this browser (Streamlit cannot from the server): SameSite=
    Strict, Secure over https. Only for small, non-secret preferences (language, seen notices)."""

    script = (
        f"<script>document.cookie = {json.dumps(name)} + '=' + encodeURIComponent({json.dumps(value)})"
        f" + '; path=/; max-age={int(max_age_s)}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    with st.container(height=1, border=False, key=f"cookie_{name}"):
        st.html(script, unsafe_allow_javascript=True)


def cookie(name: str) -> str | None:
    """The value of cookie ``name`` this browser sent when the session began, or None."""
    try:
        value = st.context.cookies.get(name)
    except Exception:  # noqa: BLE001 - no browser connection (AppTest, bare mode)
        return None
    return value if isinstance(value, str) else None  # AppTest's stand-in context is no browser


LANG_COOKIE = "facegate_lang"


def remembered_language() -> str | None:
    """The language this browser chose last time (a cookie), or None."""
    value = cookie(LANG_COOKIE)
    return value if value in i18n.LANGUAGES else None


def remember_language() -> None:
    """Keep the language choice for the next visit: a reload is a new Streamlit session, and
    without this the choice fell back to the browser's language (issue 17 §12)."""
    chosen = st.session_state.get("lang")
    if chosen in i18n.LANGUAGES and chosen != st.session_state.get("_lang_saved", remembered_language()):
        set_cookie(LANG_COOKIE, chosen, 365 * 24 * 3600)
        st.session_state["_lang_saved"] = chosen


def private_image(data: bytes, width: int | str) -> None:
    """Show a biometric image (a face thumbnail, a capture) inline in the page, as a data URI.

    ``st.image`` hands the bytes to Streamlit's media file manager, which serves them at a
    ``/media/<hash>.jpg`` URL that answers anyone who has the URL, with no session, and for a
    while after the admin signed out. Inline, the image only ever travels inside the admin's own
    page (issue 13 §15). ``width``: pixels, or "stretch" (the container's width)."""
    size = "width:100%" if width == "stretch" else f"width:{int(width)}px;max-width:100%"
    mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    encoded = base64.b64encode(data).decode("ascii")
    st.html(f'<img src="data:{mime};base64,{encoded}" alt="" style="{size};height:auto">')
