"""Settings: threshold, collection, device id, topic prefix, retention, language — saved durably."""

from __future__ import annotations

import streamlit as st

from core.app import i18n
from core.config import save_user_settings
from pages._shared import env_overridden, get_settings, run_action, through_router, tr

through_router()
i18n.register(
    {
        "settings.title": ("設定", "Settings"),
        "settings.threshold": ("一致のしきい値（%）", "Match threshold (%)"),
        "settings.threshold_help": (
            "この類似度以上で本人と判定します（Rekognition の FaceMatchThreshold）。",
            "Similarity at or above this identifies a person (Rekognition's FaceMatchThreshold).",
        ),
        "settings.collection": ("顔コレクション名", "Face collection"),
        "settings.device_id": ("端末 ID（DeviceID）", "Device id (DeviceID)"),
        "settings.topic_prefix": ("MQTT トピックの接頭辞", "MQTT topic prefix"),
        "settings.retention_match": ("本人と特定できた撮影の保存期間（時間）", "Keep identified captures for (hours)"),
        "settings.retention_unknown": ("特定できなかった撮影の保存期間（時間）", "Keep unknown captures for (hours)"),
        "settings.retention_logs": (
            "ログ（認証・ドア開・分析）の保存期間（日）",
            "Keep auth, door and analysis logs for (days)",
        ),
        "settings.retention_logs_help": (
            "AWS では `python -m core deploy up` でログ用バケットのライフサイクルに反映されます。",
            "In aws, `python -m core deploy up` applies it to the logs bucket's lifecycle.",
        ),
        "settings.language": ("表示言語の既定", "Default language"),
        "settings.lang.auto": ("ブラウザに合わせる", "Follow the browser"),
        "settings.save": ("保存", "Save"),
        "settings.saved": ("保存しました。", "Saved."),
        "settings.overridden": (
            "環境変数が優先されるため反映されない項目: {names}",
            "Environment variables override these, so the saved value is not used: {names}",
        ),
    }
)

settings = get_settings()
st.title(tr("settings.title"))
if "settings_flash" in st.session_state:
    st.success(st.session_state.pop("settings_flash"))

with st.form("settings_form"):
    threshold = st.number_input(
        tr("settings.threshold"),
        min_value=0.0,
        max_value=100.0,
        step=1.0,
        value=float(settings.match_threshold),
        help=tr("settings.threshold_help"),
        key="set_threshold",
    )
    collection = st.text_input(tr("settings.collection"), value=settings.collection, key="set_collection")
    device_id = st.text_input(tr("settings.device_id"), value=settings.device_id, key="set_device_id")
    topic_prefix = st.text_input(tr("settings.topic_prefix"), value=settings.topic_prefix, key="set_topic_prefix")
    keep_match = st.number_input(
        tr("settings.retention_match"),
        min_value=0.0,
        step=1.0,
        value=float(settings.retention_match_hours),
        key="set_retention_match",
    )
    keep_unknown = st.number_input(
        tr("settings.retention_unknown"),
        min_value=0.0,
        step=1.0,
        value=float(settings.retention_unknown_hours),
        key="set_retention_unknown",
    )
    keep_logs = st.number_input(
        tr("settings.retention_logs"),
        min_value=1.0,
        max_value=36500.0,
        step=1.0,
        value=float(settings.retention_log_days),
        help=tr("settings.retention_logs_help"),
        key="set_retention_logs",
    )
    options = ["auto", "ja", "en"]
    names = {"auto": tr("settings.lang.auto"), "ja": "日本語", "en": "English"}
    language = st.selectbox(
        tr("settings.language"),
        options,
        index=options.index(settings.language),
        key="set_language",
        format_func=names.get,
    )
    submitted = st.form_submit_button(tr("settings.save"), type="primary", width="stretch")

if submitted:
    changes = {
        "match_threshold": threshold,
        "collection": collection.strip(),
        "device_id": device_id.strip(),
        "topic_prefix": topic_prefix.strip(),
        "retention_match_hours": keep_match,
        "retention_unknown_hours": keep_unknown,
        "retention_log_days": keep_logs,
        "language": language,
    }
    if run_action(save_user_settings, settings, changes) is not None:
        overridden = env_overridden(changes)
        message = tr("settings.saved")
        if overridden:
            message += " " + tr("settings.overridden", names=", ".join(overridden))
        st.session_state["settings_flash"] = message
        st.rerun()
