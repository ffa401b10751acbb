"""Settings: threshold, collection, device id, topic prefix, retention, language — saved durably."""

from __future__ import annotations

import streamlit as st

from core.app import i18n
from core.config import LOW_MATCH_THRESHOLD, InvalidSetting, save_user_settings, stack_owned
from core.errors import FaceGateError
from core.web.quota import api_quota
from pages._shared import env_overridden, get_settings, show_error, through_router, tr

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
        "settings.stack_owned": (
            "AWS の世界では顔コレクション名・端末 ID・トピックの接頭辞はデプロイしたスタックのものです"
            "（ここでは変更できません）。変えるには `python -m core deploy up` を実行してください"
            "（例: `FACEGATE_DEVICE_ID=id002 python -m core deploy up`）。",
            "In the aws world the face collection, device id and topic prefix belong to the deployed "
            "stack (read-only here). To change them run `python -m core deploy up` "
            "(e.g. `FACEGATE_DEVICE_ID=id002 python -m core deploy up`).",
        ),
        "settings.quota": (
            "Web API の残り: {remaining:,} / {limit:,} 回（{period}、{resets} にリセット）。写真 1 枚で 1 回使います。",
            "Web API quota left: {remaining:,} of {limit:,} requests ({period}, resets on {resets}). "
            "Each photo uses one.",
        ),
        "settings.quota.MONTH": ("今月", "this month"),
        "settings.quota.WEEK": ("今週", "this week"),
        "settings.quota.DAY": ("今日", "today"),
        "settings.quota_unreadable": (
            "Web API の残り回数を読めませんでした: {why}",
            "Could not read the Web API quota: {why}",
        ),
        "settings.save": ("保存", "Save"),
        "settings.saved": ("保存しました。", "Saved."),
        "settings.invalid.match_threshold": (
            "しきい値は 0〜100 の数で入力してください。",
            "The threshold must be a number from 0 to 100.",
        ),
        "settings.invalid.collection": (
            "顔コレクション名には半角の英数字と _ . - だけが使えます（空白や日本語は不可、255 文字まで）。",
            "A face collection name may use only letters, digits and _ . - (no spaces, up to 255 characters).",
        ),
        "settings.invalid.device_id": (
            "端末 ID には半角の英数字と _ - : だけが使えます（128 文字まで）。",
            "A device id may use only letters, digits and _ - : (up to 128 characters).",
        ),
        "settings.invalid.topic_prefix": (
            "トピックの接頭辞は handson や lab/gate1 のように、半角の英数字と _ - を / で区切って入力してください。",
            "Write the topic prefix like handson or lab/gate1: letters, digits, _ and -, parts separated by /.",
        ),
        "settings.invalid.retention_match_hours": (
            "保存期間は 0 時間以上にしてください。",
            "Keep captures for 0 hours or more.",
        ),
        "settings.invalid.retention_unknown_hours": (
            "保存期間は 0 時間以上にしてください。",
            "Keep captures for 0 hours or more.",
        ),
        "settings.invalid.retention_log_days": (
            "ログの保存期間は 1〜36500 日にしてください。",
            "Keep logs for 1 to 36500 days.",
        ),
        "settings.not_saved": ("保存していません: {why}", "Nothing was saved: {why}"),
        "settings.low_threshold": (
            "しきい値 {value:.0f}% は低すぎます。別人を本人と判定し、ドアを開けてしまうことが増えます"
            "（推奨 80% 以上、{low:.0f}% 未満は非推奨）。",
            "A threshold of {value:.0f}% is low: other people will more often be taken for someone enrolled and "
            "the door opened for them (80% or more is recommended; below {low:.0f}% is not).",
        ),
        "settings.save_anyway": ("低いしきい値のまま保存する", "Save with the low threshold"),
        "settings.overridden": (
            "環境変数が優先されるため反映されない項目: {names}",
            "Environment variables override these, so the saved value is not used: {names}",
        ),
    }
)

settings = get_settings()
st.title(tr("settings.title"))


@st.cache_data(ttl=60, show_spinner=False)
def _quota(_settings, plan_and_key: tuple):
    """The deployed API's quota left, read at most once a minute (``plan_and_key`` keys the cache)."""
    return api_quota(_settings)


if settings.backend == "aws":
    try:
        quota = _quota(settings, (settings.region, settings.usage_plan_id, settings.api_key_id))
    except FaceGateError as exc:
        st.caption(tr("settings.quota_unreadable", why=exc.message))
    else:
        if quota is not None:
            period = tr(f"settings.quota.{quota.period}")
            message = tr(
                "settings.quota", remaining=quota.remaining, limit=quota.limit, period=period, resets=quota.resets
            )
            (st.warning if quota.remaining < quota.limit * 0.1 else st.info)(message)
if "settings_flash" in st.session_state:
    st.success(st.session_state.pop("settings_flash"))
if settings.match_threshold < LOW_MATCH_THRESHOLD and "settings_pending" not in st.session_state:
    st.warning(tr("settings.low_threshold", value=settings.match_threshold, low=LOW_MATCH_THRESHOLD), icon="⚠️")

with st.form("settings_form"):
    # No min/max on the inputs: the browser would silently refuse a value out of range and
    # nothing would say why; the values are checked on saving, with a message per setting.
    threshold = st.number_input(
        tr("settings.threshold"),
        step=1.0,
        value=float(settings.match_threshold),
        help=tr("settings.threshold_help"),
        key="set_threshold",
    )
    # In the aws world these are the stack's (core.config.STACK_OWNED): shown, not changeable.
    owned = stack_owned(settings.backend)
    collection = st.text_input(
        tr("settings.collection"), value=settings.collection, key="set_collection", disabled="collection" in owned
    )
    device_id = st.text_input(
        tr("settings.device_id"), value=settings.device_id, key="set_device_id", disabled="device_id" in owned
    )
    topic_prefix = st.text_input(
        tr("settings.topic_prefix"),
        value=settings.topic_prefix,
        key="set_topic_prefix",
        disabled="topic_prefix" in owned,
    )
    if owned:
        st.caption(tr("settings.stack_owned"))
    keep_match = st.number_input(
        tr("settings.retention_match"),
        step=1.0,
        value=float(settings.retention_match_hours),
        key="set_retention_match",
    )
    keep_unknown = st.number_input(
        tr("settings.retention_unknown"),
        step=1.0,
        value=float(settings.retention_unknown_hours),
        key="set_retention_unknown",
    )
    keep_logs = st.number_input(
        tr("settings.retention_logs"),
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


def _save(changes: dict) -> None:
    try:
        save_user_settings(settings, changes)
    except InvalidSetting as exc:
        st.error(tr("settings.not_saved", why=tr(f"settings.invalid.{exc.setting}")), icon="⚠️")
        return
    except FaceGateError as exc:
        show_error(exc)
        return
    st.session_state.pop("settings_pending", None)
    overridden = env_overridden(changes)
    message = tr("settings.saved")
    if overridden:
        message += " " + tr("settings.overridden", names=", ".join(overridden))
    st.session_state["settings_flash"] = message
    st.rerun()


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
    for key in owned:
        changes.pop(key)
    # A low threshold is allowed, but only once the admin has read what it does.
    if 0 <= threshold < LOW_MATCH_THRESHOLD and threshold < settings.match_threshold:
        st.session_state["settings_pending"] = changes
    else:
        st.session_state.pop("settings_pending", None)
        _save(changes)

pending = st.session_state.get("settings_pending")
if pending is not None:
    st.warning(tr("settings.low_threshold", value=pending["match_threshold"], low=LOW_MATCH_THRESHOLD), icon="⚠️")
    if st.button(tr("settings.save_anyway"), key="settings_save_anyway", width="stretch"):
        _save(pending)
