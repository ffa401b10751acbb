"""What every page shares: the cached services, the current language, error display.

The only place the app builds ``Services`` (through ``st.cache_resource``), so every page and
session shares one face engine per process.
"""

from __future__ import annotations

import functools
import os

import streamlit as st

from core.app import i18n
from core.bootstrap import Services, build_services
from core.config import Settings, env_name, load_settings
from core.errors import FaceGateError

i18n.register(
    {
        "people.bad_name": (
            "この名前は使えません。英数字と _ . - : で入力してください（例: Taro_Yamada）。",
            "This name cannot be used. Use letters, digits and _ . - : (for example Taro_Yamada).",
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
    """Make sure this page runs inside ``streamlit_app.py`` (the chrome, the navigation).

    Streamlit decides once per process whether ``pages/`` is a legacy multipage folder; until the
    router has called ``st.navigation`` it is, so a first request that deep-links (``/people``
    right after start-up) would run the page bare. Then we switch that mode off and rerun, which
    goes through the router."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def _close(services: Services) -> None:
    services.close()  # e.g. the MQTT connection of services built for settings since changed


@st.cache_resource(max_entries=2, show_spinner=False, on_release=_close)
def _build_services(settings: Settings) -> Services:
    services = build_services(settings)
    # Load the local face models now, not on the first photo (the property loads them).
    getattr(services.faces, "engine", None)
    # Load the analytics copy of the events in the background, not on the first chart.
    warm = getattr(services.events, "warm_columnar", None)
    if warm is not None:
        warm()
    return services


def get_settings() -> Settings:
    """Current settings (re-read each run so the settings page takes effect). Raises ConfigError."""
    return load_settings()


def get_services() -> Services:
    """The services for the current settings, built once per process per settings."""
    return _build_services(get_settings())


def warm_up() -> None:
    """Do a new app process's slow first-page work before any browser asks (``python -m core app
    run`` calls this beside the server's start-up): the imports the chart pages need, the
    services (face models loaded, analytics copy loading in the background). Measured on these 2
    cores with a million events: the analytics page's first render in a new process fell from
    about 3 s to the warm figure (bench/analytics.py)."""
    import duckdb  # noqa: F401 - imported for its import time
    import plotly.graph_objects  # noqa: F401
    import plotly.io  # noqa: F401

    import core.analytics.figures  # noqa: F401
    import core.analytics.queries  # noqa: F401

    try:
        get_services()
    except FaceGateError:
        pass  # the page will show the reason to the user


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
    from pathlib import Path

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


def viewer_zone():
    """The browser's time zone (``st.context.timezone``), else ``FACEGATE_TIMEZONE``."""
    from core.app.times import viewer_zone as zone_for

    try:
        browser = st.context.timezone
    except Exception:  # noqa: BLE001 - no browser context (tests, bare mode)
        browser = None
    return zone_for(browser, get_settings().timezone)


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


def error_text(exc: BaseException) -> str:
    from core.usecases.people import InvalidPersonName

    if isinstance(exc, InvalidPersonName):
        return tr("people.bad_name")
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
