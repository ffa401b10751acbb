"""Analytics: the course's step 5 charts and more, filtered by date range, device and person.

Layout only: the data comes from ``core.analytics.queries`` over ``services.events.columnar()``
(cached for a short time), the figures from ``core.analytics.figures``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core.analytics import figures, queries
from core.analytics.spreadsheet import inert_frame
from core.app import i18n
from core.app.times import offset_minutes, zone_label
from core.errors import FaceGateError
from core.usecases import people as people_use_cases
from pages._access import acting_fragment
from pages._shared import get_services, get_settings, lang, show_error, through_router, tr, viewer_zone

through_router()
i18n.register(
    {
        "analytics.title": ("分析", "Analytics"),
        "analytics.no_events": (
            "まだログがありません。カメラのページで撮影するとログが記録されます。センサー値はスマートフォンで"
            "ログのページを開くと届きます。試すだけなら `python -m core demo-data --events 100000` でデモデータを"
            "作れます。",
            "No logs yet. Take a photo on the Camera page to record some; sensor readings arrive when a phone opens "
            "the Logs page. To explore, create demo data with `python -m core demo-data --events 100000`.",
        ),
        "analytics.filters": ("絞り込み", "Filters"),
        "analytics.dates": ("期間", "Date range"),
        "analytics.devices": ("端末（空欄 = すべて）", "Devices (empty = all)"),
        "analytics.choose": ("選んでください", "Choose"),
        "analytics.people": ("人物（空欄 = 全員）", "People (empty = everyone)"),
        "analytics.unknown": ("特定できなかった顔", "Unknown faces"),
        "analytics.timezone": ("時刻は {tz} で表示しています。", "Times are shown in {tz}."),
        "analytics.untimed": (
            "時刻が未来の記録 {future} 件と、時刻を読めない記録 {no_time} 件は時間軸のグラフに含めていません"
            "（送られたまま保存されています: ログのページ、`python -m core events query`）。",
            "{future} records dated in the future and {no_time} with an unreadable time are not on the time "
            "charts (they are stored as sent: the Logs page, `python -m core events query`).",
        ),
        "analytics.unreadable": (
            "この期間の {n} 件には型どおりに読めない値があり、その値を使うグラフから外れています（送られたまま保存）。",
            "{n} records in this range have a value that could not be read as its type; the charts that need "
            "that value leave them out (they are stored as sent).",
        ),
        "analytics.kpi.captures": ("撮影", "Captures"),
        "analytics.kpi.identified": ("識別成功", "Identified"),
        "analytics.kpi.unknown": ("不明な顔", "Unknown faces"),
        "analytics.kpi.people": ("人数", "People seen"),
        "analytics.kpi.door_opens": ("ドア開", "Door opens"),
        "analytics.kpi.sensor_readings": ("センサー値", "Sensor readings"),
        "analytics.sensor": ("センサー", "Sensors"),
        "analytics.bucket": ("集計単位", "Resolution"),
        "analytics.bucket.auto": ("自動", "auto"),
        "analytics.bucket.minute": ("分", "minute"),
        "analytics.bucket.hour": ("時間", "hour"),
        "analytics.bucket.day": ("日", "day"),
        "analytics.bucket.coarser": (
            "点が多すぎるため「{bucket}」単位で表示しています。",
            "Too many points: shown per {bucket}.",
        ),
        "analytics.live": ("自動更新（5 秒ごと）", "Live (every 5 s)"),
        "analytics.sensor.empty": (
            "この条件のセンサー値はありません。スマートフォンでログのページを開くと送信されます。",
            "No sensor readings for these filters. A phone sends them while it has the Logs page open.",
        ),
        "analytics.tab.faces": ("顔の分析", "Faces"),
        "analytics.tab.identification": ("識別", "Identification"),
        "analytics.tab.devices": ("端末比較", "Devices"),
        "analytics.tab.history": ("履歴", "History"),
        "analytics.gender": ("性別（コースの円グラフ）", "Gender (the course's pie chart)"),
        "analytics.age": ("年齢層", "Age ranges"),
        "analytics.emotion": ("表情", "Expressions"),
        "analytics.emotion.smile_only": (
            "このエンジンの分析ログには感情がありません（コースの分析ログにも感情の項目はありません）。"
            "代わりに「笑顔」の割合を表示しています。",
            "This engine's analysis logs carry no emotions (neither does the course's analysis record), so the "
            "share of smiling faces is shown instead.",
        ),
        "analytics.faces.device_note": (
            "分析ログには DeviceID がないため（コースの仕様）、端末と人物の絞り込みは顔の分析には適用されません。",
            "Analysis logs carry no DeviceID (the course's contract), so the device and person filters do not narrow "
            "the face charts.",
        ),
        "analytics.faces.empty": (
            "この期間の顔の分析ログはありません。カメラのページで撮影してください。",
            "No face analysis logs in this range. Take a photo on the Camera page.",
        ),
        "analytics.success": (
            "識別成功率と不明な顔の割合（日別）",
            "Identification success and unknown faces (per day)",
        ),
        "analytics.captures": ("撮影数（日別）", "Captures per day"),
        "analytics.people_per_day": ("識別された人数（日別）", "People identified per day"),
        "analytics.heatmap": ("曜日 × 時間帯の撮影数", "Captures by weekday and hour"),
        "analytics.auth.empty": (
            "この条件の認証ログはありません。カメラのページで撮影するか、絞り込みを広げてください。",
            "No authentication logs for these filters. Take a photo on the Camera page or widen the filters.",
        ),
        "analytics.people.empty": ("この条件で識別された人はいません。", "Nobody was identified for these filters."),
        "analytics.devices.empty": ("この条件の端末データはありません。", "No device data for these filters."),
        "analytics.auth_history": ("認証ログ", "Authentication log"),
        "analytics.door_history": ("ドア開ログ", "Door-open log"),
        "analytics.history.count": (
            "{total} 件中、新しい {shown} 件を表示（列見出しで並べ替え）",
            "Newest {shown} of {total} (click a column header to sort)",
        ),
        "analytics.door.empty": (
            "この条件のドア開ログはありません。登録済みの人が識別されるとドアが開きます。",
            "No door openings for these filters. The door opens when a registered person is identified.",
        ),
        "analytics.csv": ("CSV をダウンロード（{total} 件）", "Download CSV ({total} rows)"),
        "analytics.col.time": ("時刻", "Time"),
        "analytics.col.device": ("端末", "Device"),
        "analytics.col.result": ("認証結果", "Result"),
        "analytics.col.person": ("人物", "Person"),
        "analytics.col.picture": ("写真", "Picture"),
        "analytics.col.captures": ("撮影", "Captures"),
        "analytics.col.success_rate": ("識別成功率", "Identified"),
        "analytics.col.door_opens": ("ドア開", "Door opens"),
        "analytics.col.sensor_readings": ("センサー件数", "Sensor readings"),
        "analytics.col.sensor_mean": ("センサー平均", "Sensor mean"),
    }
)

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
MAX_POINTS = 5000  # per sensor chart: more would make a phone's browser crawl


def _settings_key() -> str:
    return repr(get_settings())


OPTIONS_WINDOW = timedelta(days=90)  # how far back the aws world looks for devices and people


@st.cache_data(ttl=30, show_spinner=False)
def _options(settings_key: str) -> dict:
    # The local copy holds everything anyway; the aws store would read S3 for the whole window.
    con = get_services().events.columnar(since=datetime.now(UTC) - OPTIONS_WINDOW)
    try:
        return queries.filter_options(con)
    finally:
        con.close()


@st.cache_data(ttl=30, show_spinner=False, max_entries=64)
def _section(settings_key: str, f: queries.AnalyticsFilter, section: str) -> dict:
    """The data of one page section (queries.SECTIONS), cached briefly per filter."""
    con = get_services().events.columnar(since=f.since, until=f.until)
    try:
        return queries.chart_data(con, f, history_limit=500, charts=queries.SECTIONS[section])
    finally:
        con.close()


@st.cache_data(ttl=5, show_spinner=False, max_entries=32)
def _sensor(settings_key: str, f: queries.AnalyticsFilter, bucket: str):
    con = get_services().events.columnar(since=f.since, until=f.until)
    try:
        return queries.sensor_series(con, f, bucket)
    finally:
        con.close()


def _csv(f: queries.AnalyticsFilter, kind: str):
    def build() -> bytes:
        con = get_services().events.columnar(since=f.since, until=f.until)
        try:
            return queries.history_csv(con, kind, f)
        finally:
            con.close()

    return build


def _plot(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)


@st.cache_data(ttl=30, show_spinner=False)
def _display_names(settings_key: str) -> dict[str, str]:
    """Person id (what the logs carry) -> display name (core.usecases.people)."""

    try:
        return {p.name: p.display_name for p in people_use_cases.list_people(get_services())}
    except FaceGateError:
        return {}


def _shown(person_id: str) -> str:
    return _display_names(repr(get_settings())).get(person_id, person_id)


def _history_table(frame, kind: str) -> None:
    if "person" in frame.columns:  # the logs keep the id; people read the display name
        frame = frame.assign(person=frame["person"].map(lambda v: _shown(v) if isinstance(v, str) else v))
    labels = {c: tr(f"analytics.col.{c}") for c in frame.columns}
    # Inert formulas here too: the table's own toolbar exports what it shows as CSV.
    st.dataframe(inert_frame(frame).rename(columns=labels), hide_index=True, width="stretch", height=320)


def _sensor_section(key: str, f: queries.AnalyticsFilter, first, last) -> None:
    st.subheader(tr("analytics.sensor"))
    choices = ["auto", "minute", "hour", "day"]
    labels = {b: tr(f"analytics.bucket.{b}") for b in choices}
    bucket = (
        st.segmented_control(
            tr("analytics.bucket"), choices, default="auto", key="analytics_bucket", format_func=labels.get
        )
        or "auto"
    )
    live = st.toggle(tr("analytics.live"), value=True, key="analytics_live")
    chosen = queries.pick_bucket(f, first, last) if bucket == "auto" else bucket
    span = f.span() or timedelta(days=1)
    for coarser in ("minute", "hour", "day"):
        if chosen == coarser and span / timedelta(**{coarser + "s": 1}) > MAX_POINTS and coarser != "day":
            chosen = {"minute": "hour", "hour": "day"}[coarser]
            st.caption(tr("analytics.bucket.coarser", bucket=tr(f"analytics.bucket.{chosen}")))

    @acting_fragment(run_every=5 if live else None)  # re-checks who acts at every refresh
    def sensor_chart() -> None:
        fig = figures.sensor_figure(_sensor(key, f, chosen), lang())
        if fig is None:
            st.info(tr("analytics.sensor.empty"))
        else:
            _plot(fig, "chart_sensor")

    sensor_chart()


def main() -> None:
    st.title(tr("analytics.title"))
    try:
        services = get_services()
        del services
        key = _settings_key()
        options = _options(key)
    except FaceGateError as exc:
        show_error(exc)
        st.stop()
    if options["last"] is None:
        st.info(tr("analytics.no_events"))
        st.stop()

    zone = viewer_zone()
    offset = offset_minutes(zone)
    st.caption(tr("analytics.timezone", tz=zone_label(zone)))
    if options["future"] or options["no_time"]:
        st.caption(tr("analytics.untimed", future=options["future"], no_time=options["no_time"]))
    # The default range ends at the newest event (a device's clock in 2099 is not counted:
    # filter_options leaves it out), never more than a day after today.
    last_local = (options["last"] + timedelta(minutes=offset)).date()
    first_local = max(options["first"], options["last"] - timedelta(days=365)) + timedelta(minutes=offset)
    first_local = first_local.date()
    today = (datetime.now(UTC) + timedelta(minutes=offset)).date()
    end_default = max(last_local, min(today, last_local + timedelta(days=1)))
    with st.expander(tr("analytics.filters"), expanded=True):
        picked = st.date_input(
            tr("analytics.dates"),
            value=(max(first_local, end_default - timedelta(days=6)), end_default),
            key="analytics_dates",
        )
        devices = st.multiselect(
            tr("analytics.devices"), options["devices"], key="analytics_devices", placeholder=tr("analytics.choose")
        )
        unknown_label = tr("analytics.unknown")  # bound now: format_func may run outside this script run
        shown = dict(_display_names(repr(get_settings())))
        people = st.multiselect(
            tr("analytics.people"),
            [*options["people"], queries.UNKNOWN],
            key="analytics_people",
            format_func=lambda p: unknown_label if p == queries.UNKNOWN else shown.get(p, p),
            placeholder=tr("analytics.choose"),
        )
    if isinstance(picked, (tuple, list)):
        start_day, end_day = (picked[0], picked[-1]) if picked else (end_default, end_default)
    else:
        start_day = end_day = picked
    f = queries.filter_for_days(start_day, end_day, offset, devices, people)

    try:
        kpis = _section(key, f, "kpis")["kpis"]
    except FaceGateError as exc:
        show_error(exc)
        st.stop()
    with st.container(horizontal=True, gap="medium"):  # wraps on a phone instead of stacking six rows
        for name in ("captures", "identified", "unknown", "people", "door_opens", "sensor_readings"):
            st.metric(tr(f"analytics.kpi.{name}"), f"{kpis[name]:,}", width="content")
    if kpis.get("unreadable"):
        st.caption(tr("analytics.unreadable", n=f"{kpis['unreadable']:,}"))

    _sensor_section(key, f, options["first"], options["last"])

    # Only the open tab is queried and drawn: a phone renders 4 charts on arrival, not 9.
    names = ("faces", "identification", "devices", "history")
    tabs = st.tabs([tr(f"analytics.tab.{n}") for n in names], key="analytics_tab", on_change="rerun")
    for name, tab in zip(names, tabs, strict=True):
        if tab.open:
            with tab:
                SECTION_VIEWS[name](_section(key, f, name), f, bool(devices or people), (start_day, end_day))


def _faces_view(data, f, narrowed, days) -> None:
    if narrowed:
        st.caption(tr("analytics.faces.device_note"))
    gender = figures.gender_figure(data["gender"], lang())
    if gender is None:
        st.info(tr("analytics.faces.empty"))
        return
    st.subheader(tr("analytics.gender"))
    _plot(gender, "chart_gender")
    st.subheader(tr("analytics.age"))
    _plot(figures.age_figure(data["age"], lang()), "chart_age")
    st.subheader(tr("analytics.emotion"))
    source, mix = data["emotion"]
    if source != "emotion":
        st.caption(tr("analytics.emotion.smile_only"))
    _plot(figures.emotion_figure(source, mix, lang()), "chart_emotion")


def _identification_view(data, f, narrowed, days) -> None:
    success = figures.identification_figure(data["identification"], lang())
    if success is None:
        st.info(tr("analytics.auth.empty"))
        return
    st.subheader(tr("analytics.success"))
    _plot(success, "chart_success")
    st.subheader(tr("analytics.captures"))
    _plot(figures.captures_figure(data["identification"], lang()), "chart_captures")
    st.subheader(tr("analytics.people_per_day"))
    people_fig = figures.people_figure(data["people"], lang())
    if people_fig is None:
        st.info(tr("analytics.people.empty"))
    else:
        _plot(people_fig, "chart_people")
    st.subheader(tr("analytics.heatmap"))
    _plot(figures.heatmap_figure(data["heatmap"], lang()), "chart_heatmap")


def _devices_view(data, f, narrowed, days) -> None:
    comparison = data["devices"]
    fig = figures.devices_figure(comparison, lang())
    if fig is None:
        st.info(tr("analytics.devices.empty"))
        return
    _plot(fig, "chart_devices")
    table = comparison.assign(
        success_rate=(comparison["success_rate"] * 100).round(1), sensor_mean=comparison["sensor_mean"].round(2)
    )
    _history_table(table, "devices")


def _history_view(data, f, narrowed, days) -> None:
    for kind in ("auth", "door"):
        st.subheader(tr(f"analytics.{kind}_history"))
        total, rows = data[f"{kind}_history"]
        if not total:
            st.info(tr(f"analytics.{kind}.empty"))
            continue
        st.caption(tr("analytics.history.count", total=f"{total:,}", shown=f"{len(rows):,}"))
        _history_table(rows, kind)
        st.download_button(
            tr("analytics.csv", total=f"{total:,}"),
            _csv(f, kind),
            file_name=f"facegate-{kind}-{days[0]}-{days[1]}.csv",
            mime="text/csv",
            key=f"csv_{kind}",
            on_click="ignore",
        )


SECTION_VIEWS = {
    "faces": _faces_view,
    "identification": _identification_view,
    "devices": _devices_view,
    "history": _history_view,
}

main()
