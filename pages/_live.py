"""The camera page's Live mode: the video from the phone or PC goes to the server over WebRTC
(streamlit-webrtc + aiortc), comes back with boxes and names, and a list beside it shows who
was seen. Self-contained (``render_live()``) so any page layout can place it; the logic is in
``core.live``."""

from __future__ import annotations

import streamlit as st

from core.app import i18n
from core.errors import FaceGateError
from core.live.policy import KNOWN, CallBudget, Cooldown
from core.live.session import LiveSession, LiveSnapshot, prepare
from core.live.stats import STALL_SECONDS
from core.live.webrtc import (
    frame_callback,
    install_newest_frame_relay,
    rtc_configuration,
    stop_receiver_bandwidth_caps,
)
from core.usecases import people
from pages._access import acting_fragment
from pages._shared import error_text, get_services, local_time, md, tr

i18n.register(
    {
        "live.intro": (
            "カメラを入口に向けて「開始」を押すと、映った人を 1 人につき 1 回照合します（タップ不要）。",
            "Point the camera at the door and press Start: each person who appears is identified once, without a tap.",
        ),
        "live.privacy": (
            "映像はサーバーのメモリ上で処理され、保存されません。照合した人ごとに 1 枚の静止画が写真と同じように"
            "保存・自動削除されます。",
            "The video is processed in the server's memory and not stored; one still per identified "
            "appearance is stored and deleted like a photo.",
        ),
        "live.preparing": (
            "ライブの準備をしています（顔のモデルを読み込み中）…",
            "Preparing Live (loading the face models)…",
        ),
        "live.start": ("開始", "Start"),
        "live.stop": ("停止", "Stop"),
        "live.select_device": ("カメラを選ぶ", "Select camera"),
        "live.media_api_not_available": (
            "このブラウザではカメラを使えません（スマートフォンでは https が必要です）。",
            "The camera is not available in this browser (phones need https).",
        ),
        "live.device_ask_permission": ("カメラの使用を許可してください。", "Please allow the camera."),
        "live.device_not_available": ("カメラが見つかりません。", "No camera found."),
        "live.device_access_denied": (
            "カメラの使用が拒否されました。ブラウザの設定で許可してください。",
            "Camera access was denied. Allow it in the browser's settings.",
        ),
        "live.status": (
            "{fps:.0f} fps · 落としたフレーム {dropped} · {calls}",
            "{fps:.0f} fps · frames dropped {dropped} · {calls}",
        ),
        "live.calls_aws": (
            "Rekognition 呼び出し {n} 回/分（照合の上限 {limit:.0f} 回/分）",
            "Rekognition calls {n}/min (identification limit {limit:.0f}/min)",
        ),
        "live.calls_local": (
            "顔エンジン呼び出し {n} 回/分（ローカル・無料、上限 {limit:.0f} 回/分）",
            "face engine calls {n}/min (local, free; limit {limit:.0f}/min)",
        ),
        "live.latency": ("名前表示まで {seconds:.2f} 秒（中央値）", "name shown after {seconds:.2f} s (median)"),
        "live.stalled": (
            "映像が止まっています（{seconds:.0f} 秒以上フレームが届いていません）。",
            "The stream has stalled: no frame for {seconds:.0f} s or more.",
        ),
        "live.behind": (
            "サーバーの処理が追いついていません: 直近 5 秒で {n} フレームを落としました（合計 {total}）。",
            "The server is falling behind: {n} frames dropped in the last 5 s ({total} in all).",
        ),
        "live.delayed": (
            "サーバーの処理が追いついていません: 映像が {seconds:.1f} 秒遅れています。",
            "The server is falling behind: the video is {seconds:.1f} s late.",
        ),
        "live.budget": (
            "照合の上限（{limit:.0f} 回/分）に達したため、照合を待たせています。",
            "Identifications are waiting: the limit of {limit:.0f} per minute was reached.",
        ),
        "live.seen": ("見た人", "Seen"),
        "live.nobody_yet": ("まだ誰も映っていません。", "Nobody has appeared yet."),
        "live.known": ("✅ {person} さん · {similarity:.1f}%", "✅ {person} · {similarity:.1f}%"),
        "live.unknown": ("❓ 人物を特定できませんでした", "❓ Could not identify the person"),
        "live.door.opened": ("🚪 ドアが開きました", "🚪 door opened"),
        "live.door.cooldown": (
            "🚪 少し前に開いたため記録しません（{seconds:.0f} 秒間）",
            "🚪 opened shortly before: not logged again (within {seconds:.0f} s)",
        ),
        "live.door.closed": ("🔒 ドアは閉じたまま", "🔒 door stays closed"),
        "live.records.written": ("記録: {picture}", "logged as {picture}"),
        "live.records.failed": ("記録できませんでした: {error}", "could not be logged: {error}"),
        "live.records_sent": (
            "このセッションのログ: 認証 {auth} 件・分析 {analysis} 件・ドア {door} 件",
            "Logs from this session: {auth} auth, {analysis} analysis, {door} door-open",
        ),
    }
)

_WEBRTC_TEXT = (
    "start",
    "stop",
    "select_device",
    "media_api_not_available",
    "device_ask_permission",
    "device_not_available",
    "device_access_denied",
)


@st.cache_resource(show_spinner=False)
def _shared_limits(device_id: str, cooldown_seconds: float, per_minute: float) -> tuple[Cooldown, CallBudget]:
    """One cooldown and one call budget per process (per door and settings), whichever
    browser tabs are watching: two phones at the same door do not open it twice."""
    return Cooldown(cooldown_seconds), CallBudget(per_minute)


def _session() -> LiveSession:
    services = get_services()
    s = services.settings
    cooldown, budget = _shared_limits(s.device_id, s.live_cooldown_seconds, s.live_identifications_per_minute)
    live = st.session_state.get("live_session")
    stale = live is None or any(
        a is not b for a, b in ((live.services, services), (live.policy.cooldown, cooldown), (live.budget, budget))
    )
    if stale:
        if live is not None:
            live.stop()  # settings changed: the old session's workers end by themselves
        live = LiveSession(services, cooldown=cooldown, budget=budget)
        st.session_state["live_session"] = live
    return live


_PREPARED: set[str] = set()  # settings whose models this process has loaded for Live


def _prepare(live: LiveSession) -> None:
    """Load the stream's models before its Start button exists (core.live.session.prepare:
    a model loaded during a stream froze the server long enough for the browser to end it)."""
    key = repr(live.services.settings)
    if key not in _PREPARED:
        with st.spinner(tr("live.preparing")):
            prepare(live.services)
        _PREPARED.add(key)


@st.cache_resource(show_spinner=False)
def _newest_frame_relay() -> None:
    """Once per process, before the first stream: no frame queues between camera and video,
    and no receiver estimate holds the camera's bitrate down (core.live.webrtc)."""
    install_newest_frame_relay()
    stop_receiver_bandwidth_caps()


def render_live() -> None:
    """The Live mode: the stream with overlays, its status, and who was seen."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer  # noqa: PLC0415 (only Live needs it)

    live = _session()
    _prepare(live)
    _newest_frame_relay()
    settings = live.services.settings
    st.caption(tr("live.intro"))
    st.caption(tr("live.privacy"))
    ctx = webrtc_streamer(
        key="live_stream",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(settings.webrtc_ice_servers),
        media_stream_constraints={
            "video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 15, "max": 15}},
            "audio": False,
        },
        video_frame_callback=frame_callback(live),
        on_video_ended=live.stop,
        async_processing=False,  # core.live.webrtc.frame_callback says why
        sendback_audio=False,
        translations={k: tr(f"live.{k}") for k in _WEBRTC_TEXT},
        video_html_attrs={
            "autoPlay": True,
            "controls": False,
            "muted": True,
            "playsInline": True,
            "style": {"width": "100%"},
        },
    )
    playing = bool(ctx.state.playing)
    # Re-checks who acts at every refresh, like every refreshing fragment (pages._access).
    acting_fragment(run_every=1.0 if playing else None)(_panel)(live, playing)


def _panel(live: LiveSession, playing: bool) -> None:
    snap = live.snapshot()
    with st.container(key="live_status"):
        if playing:
            _status(snap, live.services.settings.backend)
        if snap.stats.last_error is not None:
            err = snap.stats.last_error
            st.error(error_text(err) if isinstance(err, FaceGateError) else str(err), icon="⚠️")
    # The list is one Markdown element, not an element per line: a refresh then replaces it
    # whole. Drawn line by line, a reader could catch it half-updated (an entry's place taken
    # by the next one's caption for a moment), as the browser test did under load.
    lines = [f"**{tr('live.seen')}**"]
    if not snap.sightings:
        lines.append(f":gray[{tr('live.nobody_yet')}]")
    # One look-up per refresh for everyone listed (in the aws world each name is an S3 read).
    names = people.display_names(get_services(), [s.person for s in snap.sightings if s.state == KNOWN])
    for s in snap.sightings:
        lines.extend(_sighting(s, names, live.policy.cooldown.seconds))
    if snap.published:
        published = {kind: snap.published.get(kind, 0) for kind in ("auth", "analysis", "door")}
        lines.append(f":gray[{tr('live.records_sent', **published)}]")
    with st.container(key="live_seen"):
        st.markdown("  \n".join(lines))


def _status(snap: LiveSnapshot, backend: str) -> None:
    stats = snap.stats
    calls_key = "live.calls_aws" if backend == "aws" else "live.calls_local"
    calls = tr(calls_key, n=stats.calls_per_minute, limit=snap.identifications_per_minute)
    line = tr("live.status", fps=stats.fps, dropped=stats.frames_dropped, calls=calls)
    if stats.latency_p50 is not None:
        line += " · " + tr("live.latency", seconds=stats.latency_p50)
    st.caption(line)
    if stats.stalled:
        st.warning(tr("live.stalled", seconds=STALL_SECONDS), icon="⏸️")
    elif stats.behind and stats.delay_seconds > 1.0:
        st.warning(tr("live.delayed", seconds=stats.delay_seconds), icon="🐢")
    elif stats.behind:
        st.warning(tr("live.behind", n=stats.dropped_recently, total=stats.frames_dropped), icon="🐢")
    if stats.budget_waits and any(t.state not in ("known", "unknown") for t in snap.tracks):
        st.info(tr("live.budget", limit=snap.identifications_per_minute), icon="⏳")


def _sighting(s, names: dict[str, str], cooldown_seconds: float) -> list[str]:
    """The Markdown lines of one appearance in the list."""
    when = local_time(s.seen_at, "%H:%M:%S")
    known = s.state == KNOWN
    name = md(names.get(s.person, s.person)) if known else ""
    who = tr("live.known", person=name, similarity=s.similarity or 0.0) if known else tr("live.unknown")
    door = tr(f"live.door.{s.door}", seconds=cooldown_seconds) if s.door else ""
    lines = [f"{who} · {when}" + (f" · {door}" if door else "")]
    if s.records == "written" and s.picture_name:
        lines.append(f":gray[{tr('live.records.written', picture=md(s.picture_name))}]")
    elif s.records == "failed":
        lines.append(f":gray[{tr('live.records.failed', error=md(s.error or ''))}]")
    return lines
