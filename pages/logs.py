"""Logs: publisher and broker state, a live tail per topic (like IoT Core's MQTT test client),
a test-message form, the phone's motion sensors, and what the rule engine refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from core.access import sessions
from core.analytics.spreadsheet import inert_frame
from core.app import i18n
from core.app.times import local_text, zone_label
from core.errors import FaceGateError, InvalidParameter
from core.events.port import KIND_TOPICS, kind_for_topic, topic_for
from core.events.records import sensor_record, utc_now
from core.telemetry.phone import iso_utc_ms, sensor_records_from_readings
from core.usecases import logs
from pages._access import acting_fragment
from pages._shared import get_services, get_settings, local_time, show_error, through_router, tr, viewer_zone
from pages.components.phone_sensors import phone_sensors

through_router()
i18n.register(
    {
        "logs.title": ("ログ", "Logs"),
        "logs.connection": ("ブローカー接続", "Broker connection"),
        "logs.connected": ("接続中", "connected"),
        "logs.offline": ("未接続", "offline"),
        "logs.connecting": ("接続しています", "connecting"),
        "logs.idle": ("最初の送信で接続", "connects on the first send"),
        "logs.direct": ("直接保存", "stored directly"),
        "logs.outbox": ("未送信（アウトボックス）", "Outbox (not yet sent)"),
        "logs.rule_errors": ("ルールのエラー", "Rule errors"),
        "logs.refused": (
            "ブローカーに拒否された記録が {n} 件あります（送信先のトピックが許可されていません）。"
            "記録は消さずに保管しています。",
            "{n} record(s) were refused by the broker (topic not allowed); they are kept, not deleted.",
        ),
        "logs.endpoint": ("接続先 `{endpoint}`", "Endpoint `{endpoint}`"),
        "logs.broker_up": (
            "ローカルブローカー稼働中: `{endpoint}` · 接続 {clients} · 受信 {received} · 確認応答 {acked}",
            "Local broker running: `{endpoint}` · {clients} connected · {received} received · {acked} acknowledged",
        ),
        "logs.broker_down": (
            "ローカルの MQTT ブローカーが動いていません。`make run`（python -m core serve）で起動すると、"
            "ログは MQTT で送られルールで保存されます。今はログを直接保存しています。",
            "The local MQTT broker is not running. Start it with `make run` (python -m core serve) to "
            "send logs over MQTT through the rules; for now logs are stored directly.",
        ),
        "logs.aws_broker": (
            "AWS IoT Core に送信します。ルールの状態は AWS コンソールで確認できます。",
            "Logs go to AWS IoT Core; see rule metrics in the AWS console.",
        ),
        "logs.tab_tail": ("ライブ", "Live"),
        "logs.tab_phone": ("スマホのセンサー", "Phone sensors"),
        "logs.tab_test": ("テスト送信", "Test message"),
        "logs.tab_errors": ("エラー", "Errors"),
        "logs.topic": ("トピック", "Topic"),
        "logs.all_topics": ("すべて", "All topics"),
        "logs.no_messages": ("まだメッセージがありません。", "No messages yet."),
        "logs.stored_recently": ("最近保存されたログ", "Recently stored logs"),
        "logs.col_time": ("受信時刻", "Received"),
        "logs.timezone": ("時刻は {tz} で表示しています。", "Times are shown in {tz}."),
        "logs.col_client": ("クライアント", "Client"),
        "logs.col_topic": ("トピック", "Topic"),
        "logs.col_payload": ("ペイロード", "Payload"),
        "logs.payload": ("ペイロード (JSON)", "Payload (JSON)"),
        "logs.publish": ("送信", "Publish"),
        "logs.published": ("送信しました（ID {id}）。", "Published (id {id})."),
        "logs.needs_broker": (
            "任意のトピックへの送信にはブローカーが必要です（make run）。",
            "Publishing to any topic needs the broker (make run).",
        ),
        "logs.not_json": ("ペイロードが JSON ではありません: {error}", "The payload is not JSON: {error}"),
        "logs.no_errors": ("エラーはありません。", "No errors."),
        "logs.admin_only": (
            "認証・ドア開・分析のログ、テスト送信、エラーの表示は管理者だけが使えます（管理者のページでサインイン）。",
            "Authentication, door-open and analysis logs, test messages and the error list are for "
            "administrators (sign in on the Admin page).",
        ),
        "logs.col_reason": ("理由", "Reason"),
        "logs.phone_help": (
            "このページを開いている間、端末 {device} のセンサー値を sensorLogData に送ります。"
            "iPhone では「開始」をタップすると許可を求められます。",
            "While this page is open, sensor readings are published to sensorLogData as device "
            "{device}. On an iPhone, tapping Start asks for permission.",
        ),
        "logs.phone_sent": (
            "{n} 件のセンサー値を送信しました（合計 {total}）。",
            "Published {n} readings ({total} in all).",
        ),
        "logs.sensor_live": (
            "センサー値（直近 {minutes} 分・1 件ずつ）",
            "Sensor readings (last {minutes} minutes, each one)",
        ),
        "logs.sensor_live_empty": (
            "直近のセンサー値はありません。上の「開始」で、この端末のセンサーを送れます。",
            "No recent readings. Start above sends this device's sensors.",
        ),
        "logs.sensor_live_count": (
            "{n} 件 · 端末 {devices} 台 · 最新 {newest}",
            "{n} readings · {devices} device(s) · newest {newest}",
        ),
        "sensors.start": ("開始", "Start"),
        "sensors.stop": ("停止", "Stop"),
        "sensors.rate": ("送信頻度", "Rate"),
        "sensors.geo": ("位置情報も送る（任意）", "Also send my location (optional)"),
        "sensors.geo_denied": ("位置情報が許可されませんでした。", "Location was not allowed."),
        "sensors.no_sensor": (
            "この端末にはモーションセンサーがありません（PC など）。代わりにシミュレーションを使えます。",
            "This device has no motion sensors (a PC?). You can use a simulated sensor instead.",
        ),
        "sensors.simulated": ("シミュレーション（実測ではありません）", "SIMULATED sensor (not real readings)"),
        "sensors.waiting": ("センサーの値を待っています…", "Waiting for sensor readings…"),
        "sensors.sending": ("送信中（{n} 回目）", "Sending (batch {n})"),
        "sensors.stopped": ("停止しました。", "Stopped."),
        "sensors.denied": ("モーションセンサーが許可されませんでした。", "Motion sensors were not allowed."),
    }
)

svc = get_services()
settings = get_settings()
telemetry = svc.telemetry
st.title(tr("logs.title"))


@acting_fragment(run_every=3)
def status_panel() -> None:
    status = svc.publisher.status()
    if status.get("direct"):
        state = "⚪ " + tr("logs.direct")
    elif status.get("connected"):
        state = "🟢 " + tr("logs.connected")
    elif status.get("state") in ("connecting", "idle"):  # not yet tried, or nothing to send yet
        state = "🟡 " + tr(f"logs.{status['state']}")
    else:
        state = "🔴 " + tr("logs.offline")
    with st.container(horizontal=True, gap="medium"):  # side by side, wrapping on a phone
        st.metric(tr("logs.connection"), state, width="content")
        st.metric(tr("logs.outbox"), int(status.get("outbox_depth", 0)), width="content")
        if telemetry.available:
            st.metric(tr("logs.rule_errors"), telemetry.error_count(), width="content")
    st.caption(tr("logs.endpoint", endpoint=status.get("endpoint", "")))
    if status.get("refused"):
        st.warning(tr("logs.refused", n=status["refused"]))
    if not telemetry.available:
        st.caption(tr("logs.aws_broker"))
        return
    broker = telemetry.broker_status()
    if broker is None:
        st.info(tr("logs.broker_down"))
    else:
        b = broker.get("broker", {})
        st.caption(
            tr(
                "logs.broker_up",
                endpoint=b.get("endpoint", ""),
                clients=len(b.get("clients", [])),
                received=b.get("received", 0),
                acked=b.get("acknowledged", 0),
            )
        )


def _received(ms: int) -> str:
    return local_text(ms, viewer_zone(), millis=True)


@acting_fragment(run_every=2)
def live_tail(topic: str | None) -> None:
    # Every run, this fragment's own reruns included, acts as whoever is signed in now
    # (acting_fragment): after a sign-out or the idle expiry it tails the sensor stream only.
    topic = logs.readable_topic(svc, topic)
    rows = logs.recent_messages(svc, topic, 30)
    if rows:
        st.dataframe(
            inert_frame(
                pd.DataFrame(
                    [
                        {
                            tr("logs.col_time"): _received(r["received_ms"]),
                            tr("logs.col_topic"): r["topic"],
                            tr("logs.col_client"): r["client_id"],
                            tr("logs.col_payload"): r["payload"],
                        }
                        for r in rows
                    ]
                )
            ),
            hide_index=True,
            width="stretch",
        )
        return
    # No broker journal (direct publishing, or the aws world): show what the store holds.
    shown = logs.stored_recently(svc, topic)
    if shown.empty:
        st.info(tr("logs.no_messages"))
        return
    st.caption(tr("logs.stored_recently"))
    zone = viewer_zone()
    for column in ("Datetime", "ReceivedAt"):  # in the viewer's zone; an absurd year shows as it is
        if column in shown:
            shown[column] = shown[column].map(lambda t, z=zone: local_text(t, z) if not pd.isna(t) else None)
    st.dataframe(inert_frame(shown), hide_index=True, width="stretch")


def publish_test(topic: str, text: str) -> None:
    publisher = svc.publisher
    try:
        sessions.require_admin()  # any topic, any payload: forged auth or door logs otherwise
        if publisher.accepts_any_topic:
            message_id = publisher.publish_raw(topic, text.encode())
        else:
            kind = kind_for_topic(topic, settings.topic_prefix)
            if kind is None:
                st.warning(tr("logs.needs_broker"))
                return
            try:
                record = json.loads(text)
            except ValueError as exc:
                st.error(tr("logs.not_json", error=exc))
                return
            if not isinstance(record, dict):
                raise InvalidParameter("the payload must be a JSON object")
            message_id = publisher.publish(kind, record)
    except FaceGateError as exc:
        show_error(exc)
        return
    st.success(tr("logs.published", id=message_id))


LIVE_MINUTES = 5
_AXES = ("Value", "AccelX", "AccelY", "AccelZ")


@acting_fragment(run_every=2)
def sensor_live() -> None:
    """The last few minutes of sensor readings at their own resolution (each reading its own
    point, milliseconds apart from a phone), redrawn every 2 s: the analytics chart's finest
    bucket is a minute, where 12 s of phone data is one dot (issue 17 §13)."""
    since = datetime.now(UTC) - timedelta(minutes=LIVE_MINUTES)
    frame = svc.events.query("sensor", since=since.isoformat())
    st.markdown(f"**{tr('logs.sensor_live', minutes=LIVE_MINUTES)}**")
    if frame.empty:
        st.caption(tr("logs.sensor_live_empty"))
        return
    frame = frame.assign(time=pd.to_datetime(frame["Datetime"], utc=True).dt.tz_convert(viewer_zone()))
    axes = [a for a in _AXES if a in frame.columns and frame[a].notna().any()]
    long = frame.melt(id_vars=["time", "DeviceID"], value_vars=axes, var_name="axis", value_name="value").dropna()
    long["series"] = long["DeviceID"] + " · " + long["axis"]
    st.line_chart(long, x="time", y="value", color="series", height=260)
    newest = frame["time"].max()
    st.caption(
        tr("logs.sensor_live_count", n=len(frame), devices=frame["DeviceID"].nunique(), newest=local_time(newest))
    )


@acting_fragment()
def phone_panel() -> None:
    st.caption(tr("logs.phone_help", device=settings.device_id))
    text = {
        k: tr(f"sensors.{k}")
        for k in (
            "start",
            "stop",
            "rate",
            "geo",
            "geo_denied",
            "no_sensor",
            "simulated",
            "waiting",
            "sending",
            "stopped",
            "denied",
        )
    }
    batch = phone_sensors(text=text, key="phone_sensors")
    if not batch:
        return
    marker = json.dumps(batch, sort_keys=True)
    if st.session_state.get("phone_last") == marker:
        return  # the same hand-over seen again on a rerun: publish it once
    st.session_state["phone_last"] = marker
    try:
        records = sensor_records_from_readings(settings.device_id, batch)
        svc.publisher.publish_many("sensor", records)
    except FaceGateError as exc:
        show_error(exc)
        return
    st.session_state["phone_total"] = st.session_state.get("phone_total", 0) + len(records)
    st.caption(tr("logs.phone_sent", n=len(records), total=st.session_state["phone_total"]))


# Viewers (a phone sending its sensors) see the sensor stream only: auth and door logs name
# people, and the test form can forge any record (core.access roles, docs/security-and-privacy.md).
admin = sessions.is_admin()
status_panel()
if admin:
    tab_tail, tab_phone, tab_test, tab_errors = st.tabs(
        [tr("logs.tab_tail"), tr("logs.tab_phone"), tr("logs.tab_test"), tr("logs.tab_errors")]
    )
else:
    tab_tail, tab_phone = st.tabs([tr("logs.tab_tail"), tr("logs.tab_phone")])
    tab_test = tab_errors = None
topics = [topic_for(k, settings.topic_prefix) for k in KIND_TOPICS]
sensor_topic = topic_for("sensor", settings.topic_prefix)
with tab_tail:
    if admin:
        chosen = st.selectbox(
            tr("logs.topic"),
            [None, *topics],
            key="logs_topic",
            format_func=lambda t: tr("logs.all_topics") if t is None else t,
        )
    else:
        chosen = sensor_topic
        st.caption(tr("logs.admin_only"))
    st.caption(tr("logs.timezone", tz=zone_label(viewer_zone())))
    live_tail(chosen)
with tab_phone:
    phone_panel()
    sensor_live()
if tab_test is not None:
    with tab_test:
        example = sensor_record(settings.device_id, utc_now(), 42.0)
        example["Datetime"] = iso_utc_ms(utc_now())
        with st.form("logs_test_message"):
            topic = st.text_input(tr("logs.topic"), value=topics[-1], key="logs_test_topic")
            text = st.text_area(
                tr("logs.payload"), value=json.dumps(example, ensure_ascii=False), key="logs_test_payload"
            )
            if st.form_submit_button(tr("logs.publish"), type="primary"):
                publish_test(topic.strip(), text)
if tab_errors is not None:
    with tab_errors:
        errors = telemetry.errors(50)
        if not errors:
            st.info(tr("logs.no_errors"))
        else:
            st.dataframe(
                inert_frame(
                    pd.DataFrame(
                        [
                            {
                                tr("logs.col_time"): _received(e["at_ms"]),
                                tr("logs.col_topic"): e["topic"],
                                tr("logs.col_client"): e["client_id"],
                                tr("logs.col_reason"): e["reason"],
                                tr("logs.col_payload"): e["payload"],
                            }
                            for e in errors
                        ]
                    )
                ),
                hide_index=True,
                width="stretch",
            )
