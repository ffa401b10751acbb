"""Camera: take (or upload) a photo; see who it is, how the face reads, and whether the door opens."""

from __future__ import annotations

import streamlit as st

from core.access import sessions
from core.app import i18n
from core.errors import FaceGateError
from core.faces.attributes import EYE_AT_CAMERA_DEGREES
from core.images.codec import MAX_UPLOAD_BYTES, decode_image
from core.usecases import history, people
from core.usecases.capture import attribute_rows, capture_photo, closest_person, draw_faces
from core.usecases.retention import human_duration
from pages._live import render_live
from pages._shared import (
    cookie,
    error_text,
    get_services,
    lang,
    local_time,
    md,
    run_action,
    set_cookie,
    through_router,
    tr,
)

through_router()
i18n.register(
    {
        "camera.title": ("カメラ", "Camera"),
        "camera.privacy": (
            "写真はこの FaceGate で顔の照合・分析に使われ、人物を特定できた場合は {match}、できなかった場合は"
            " {unknown} で自動削除されます。",
            "Your photo is processed by this FaceGate to identify and analyse faces, and deleted automatically "
            "after {match} when someone is identified, {unknown} when nobody is.",
        ),
        "camera.privacy_more": ("プライバシーの詳細", "More about privacy"),
        "camera.privacy_folded": ("🔒 写真の扱い（プライバシー）", "🔒 What happens to your photo (privacy)"),
        "camera.privacy_details": (
            "- 登録者の写真と顔データは、その人が削除されるまで保存されます（削除するとログの名前も消えます）。\n"
            "- ログ（MQTT）には写真のファイル名だけが送られ、顔画像は送られません。\n"
            "- 認証とドア開のログ（誰がいつ特定されたか）は {logs} 保存されます。",
            "- Enrolled people's photos and face data are kept until that person is deleted (which also removes "
            "their name from the logs).\n"
            "- Logs (MQTT) carry only the photo's file name, never the face image.\n"
            "- Authentication and door logs (who was identified, when) are kept for {logs}.",
        ),
        "camera.intro": (
            "顔を撮影すると、誰かを特定し、顔を分析し、登録者ならドアを開けます。",
            "Take a photo of a face: FaceGate identifies the person, analyses the face, "
            "and opens the door for enrolled people.",
        ),
        "camera.tab_camera": ("📷 撮影", "📷 Camera"),
        "camera.tab_upload": ("🖼️ 画像を選ぶ", "🖼️ Upload"),
        "camera.tab_live": ("🎥 ライブ", "🎥 Live"),
        "camera.take": ("顔を撮影", "Take a photo of a face"),
        "camera.upload": (
            "JPEG / PNG（{mb} MB まで。大きい写真は縮小して照合します）",
            "JPEG / PNG (up to {mb} MB; large photos are shrunk before identifying)",
        ),
        "camera.working": ("照合・分析しています…", "Identifying and analysing…"),
        "camera.result": ("結果", "Result"),
        "camera.identified": ("✅ {person} さん", "✅ {person}"),
        "camera.similarity": (
            "類似度 {similarity:.1f}%（しきい値 {threshold:.0f}%）",
            "similarity {similarity:.1f}% (threshold {threshold:.0f}%)",
        ),
        "camera.unknown": ("❓ 人物を特定できませんでした", "❓ Could not identify the person"),
        "camera.unsearched": (
            "⚠️ この顔は小さい・不鮮明なため照合できませんでした",
            "⚠️ This face is too small or unclear to identify",
        ),
        "camera.face_n": ("顔 {n}", "Face {n}"),
        "camera.face_largest": ("顔 {n}（最大の顔・ドアを判定）", "Face {n} (largest: decides the door)"),
        "camera.door_open": ("ドアが開きました — {person} さん · {time}", "Door opened for {person} · {time}"),
        "camera.more_faces": ("ほかに {n} 人の顔（下に表示）", "{n} more face(s) below"),
        "camera.verdict_error": ("もう一度撮ってください", "Please try again"),
        "camera.closest": (
            "いちばん近い登録者: **{person}**（類似度 {similarity:.1f}%、しきい値 {threshold:.0f}% 未満）",
            "Closest enrolled person: **{person}** (similarity {similarity:.1f}%, below the {threshold:.0f}% "
            "threshold)",
        ),
        "camera.closest_none": ("似ている登録者はいません。", "Nobody enrolled looks like this face."),
        "camera.add_to": ("この顔を {person} さんに追加", "Add this face to {person}"),
        "camera.added": (
            "この顔を {person} さんとして登録しました。次からは特定されます。",
            "Added this face to {person}; they will be identified from now on.",
        ),
        "camera.door_closed": ("ドアは閉じたままです · {time}", "The door stays closed · {time}"),
        "camera.analysis": ("顔の分析", "Face analysis"),
        "camera.saved_as": ("保存: {picture} · 端末 {device}", "Saved as {picture} · device {device}"),
        "camera.logs_sent": (
            "ログ: 認証 {auth} 件・分析 {analysis} 件・ドア {door} 件",
            "Logs: {auth} auth, {analysis} analysis, {door} door-open",
        ),
        "camera.logs_failed": (
            "写真と結果は保存しましたが、ログを送れませんでした: {error}",
            "The photo and result are saved, but the logs could not be sent: {error}",
        ),
        "camera.nobody_enrolled": (
            "まだ誰も登録されていないため、誰の顔も特定されません。管理者が「登録者」のページで登録します"
            "（「管理者」のページでサインイン）。",
            "Nobody is enrolled yet, so no face will be identified. An administrator enrols people on the People "
            "page (sign in on the Admin page).",
        ),
        "camera.no_face_hint": (
            "ヒント: 顔全体が写るように近づき、明るい場所で撮ってください。",
            "Tip: get the whole face in the frame, closer and in good light.",
        ),
        "attr.AgeRange": ("年齢", "Age"),
        "attr.Gender": ("性別", "Gender"),
        "attr.Emotions": ("感情", "Emotion"),
        "attr.Smile": ("笑顔", "Smile"),
        "attr.EyesOpen": ("目が開いている", "Eyes open"),
        "attr.MouthOpen": ("口が開いている", "Mouth open"),
        "attr.Eyeglasses": ("眼鏡", "Eyeglasses"),
        "attr.Sunglasses": ("サングラス", "Sunglasses"),
        "attr.Beard": ("あごひげ", "Beard"),
        "attr.Mustache": ("口ひげ", "Mustache"),
        "attr.FaceOccluded": ("顔が隠れている", "Face covered"),
        "attr.EyeDirection": ("視線", "Gaze"),
        "attr.gaze_camera": ("カメラを見ている", "at the camera"),
        "attr.gaze_away": (
            "よそを見ている（左右 {yaw:+.0f}°、上下 {pitch:+.0f}°）",
            "away (sideways {yaw:+.0f}°, up {pitch:+.0f}°)",
        ),
        "attr.confidence_note": (
            "（）内の数字は、ラベル付きの顔写真で実測した正解率です（モデルの自信ではありません）。",
            "The numbers in brackets are how often each answer was right on labelled photos, not a model's belief.",
        ),
        "emotion.HAPPY": ("うれしい", "happy"),
        "emotion.SAD": ("悲しい", "sad"),
        "emotion.ANGRY": ("怒り", "angry"),
        "emotion.CONFUSED": ("困惑", "confused"),
        "emotion.DISGUSTED": ("嫌悪", "disgusted"),
        "emotion.SURPRISED": ("驚き", "surprised"),
        "emotion.CALM": ("落ち着いている", "calm"),
        "emotion.FEAR": ("恐れ", "afraid"),
        "gender.Male": ("男性", "Male"),
        "gender.Female": ("女性", "Female"),
        "attr.age_value": ("{low}〜{high} 歳", "{low}–{high} years"),
    }
)


def _value_text(name: str, value) -> str:
    if value is None:
        return f"*{tr('common.not_available')}*"
    if name == "AgeRange":
        return tr("attr.age_value", low=value[0], high=value[1])
    if name == "Gender":
        return tr(f"gender.{value}")
    if name == "Emotions":
        return tr(f"emotion.{value}")
    if name == "EyeDirection":
        yaw, pitch = value
        if abs(yaw) < EYE_AT_CAMERA_DEGREES and abs(pitch) < EYE_AT_CAMERA_DEGREES:
            return tr("attr.gaze_camera")
        return tr("attr.gaze_away", yaw=yaw, pitch=pitch)
    if isinstance(value, bool):
        return tr("common.yes") if value else tr("common.no")
    return str(value)


def _analysis(detail: dict) -> None:
    lines = []
    for name, value, confidence in attribute_rows(detail):
        conf = f" ({confidence:.0f}%)" if confidence is not None and value is not None else ""
        lines.append(f"- {tr('attr.' + name)}: **{_value_text(name, value)}**{conf}")
    st.markdown("\n".join(lines))
    st.caption(tr("attr.confidence_note"))


def _closest(result, n: int, photo: bytes) -> None:
    """For an admin, a face below the threshold: who it is most like, and one tap to add it."""
    face = result.faces[n - 1]
    found = st.session_state.setdefault("camera_closest", {})
    key = (result.capture_id, n)
    if key not in found:
        found[key] = run_action(closest_person, get_services(), photo, face.box)
    closest = found[key]
    if closest is None:
        st.caption(tr("camera.closest_none"))
        return
    person, similarity = closest
    name = md(people.display_names(get_services(), [person])[person])
    st.markdown(tr("camera.closest", person=name, similarity=similarity, threshold=result.threshold))
    if st.button(tr("camera.add_to", person=name), key=f"add_to_{result.capture_id}_{n}", width="stretch"):
        outcome = run_action(history.correct_as_person, get_services(), result.capture_id, person, n - 1)
        if outcome is not None and outcome.indexed:
            st.success(tr("camera.added", person=name))
        elif outcome is not None:
            st.error(error_text(outcome.error) if outcome.error else ", ".join(outcome.reasons))


def _face_card(result, face, n: int, photo: bytes) -> None:
    with st.container(border=True, key=f"face_card_{n}"):
        st.caption(tr("camera.face_largest", n=n) if face.largest else tr("camera.face_n", n=n))
        if face.person:
            st.markdown(f"### {tr('camera.identified', person=md(face.name))}")
            st.markdown(tr("camera.similarity", similarity=face.similarity, threshold=result.threshold))
        elif face.searched:
            st.markdown(f"### {tr('camera.unknown')}")
            if sessions.is_admin():
                _closest(result, n, photo)
        else:
            st.markdown(tr("camera.unsearched"))
        with st.expander(tr("camera.analysis"), expanded=face.largest):
            _analysis(face.detail)


def _annotated(result, photo: bytes) -> bytes:
    return draw_faces(decode_image(photo).rgb, result.faces, unknown_label=tr("common.unknown_short"))


def _verdict(result, photo: bytes) -> None:
    """What the person at the door needs, right above the photo they just took: who, and
    whether the door opened. The details follow below the camera."""
    with st.container(key="verdict", border=True):
        when = local_time(result.when, "%H:%M:%S")
        if result.door_opened:
            st.success(tr("camera.door_open", person=md(result.person_name), time=when), icon="🚪")
        else:
            st.info(tr("camera.door_closed", time=when), icon="🔒")
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.image(_annotated(result, photo), width=96)
            with st.container(gap="small"):
                face = result.largest
                if face.person:
                    st.markdown(f"### {tr('camera.identified', person=md(face.name))}")
                    st.caption(tr("camera.similarity", similarity=face.similarity, threshold=result.threshold))
                elif face.searched:
                    st.markdown(f"### {tr('camera.unknown')}")
                else:
                    st.markdown(tr("camera.unsearched"))
                if len(result.faces) > 1:
                    st.caption(tr("camera.more_faces", n=len(result.faces) - 1))


def _details(result, photo: bytes) -> None:
    with st.container(key="result_card"):
        st.subheader(tr("camera.result"))
        st.image(_annotated(result, photo), width="stretch")
        for n, face in enumerate(result.faces, start=1):
            _face_card(result, face, n, photo)
        st.caption(tr("camera.saved_as", picture=result.picture_name, device=result.device_id))
        if result.publish_error is not None:
            st.warning(tr("camera.logs_failed", error=error_text(result.publish_error)))
        else:
            st.caption(
                tr(
                    "camera.logs_sent",
                    auth=result.published.get("auth", 0),
                    analysis=result.published.get("analysis", 0),
                    door=result.published.get("door", 0),
                )
            )


def _take(widget: str, photo, slot) -> None:
    """Run the capture flow once per new photo (each take or upload has a new file id), and
    keep the outcome for the reruns that follow. The spinner shows where the verdict will."""
    if st.session_state.get(f"camera_seen_{widget}") == photo.file_id:
        return
    st.session_state[f"camera_seen_{widget}"] = photo.file_id
    data = photo.getvalue()
    name = "camera" if widget == "shot" else (photo.name or "upload")
    with slot, st.spinner(tr("camera.working")):
        try:
            result = capture_photo(get_services(), data, name)
        except FaceGateError as exc:
            result = exc
    # Keep the photo as identified (a large upload was shrunk), not the upload itself.
    st.session_state["camera_outcome"] = (widget, result, data if isinstance(result, FaceGateError) else result.photo)


def _forget_cleared(shot, upload) -> None:
    """Clear photo (or removing the upload) also clears its result: on a shared phone the next
    person must not see the previous one's name."""
    outcome = st.session_state.get("camera_outcome")
    if outcome is None:
        return
    widget = outcome[0]
    if (widget == "shot" and shot is None) or (widget == "upload" and upload is None):
        st.session_state.pop("camera_outcome", None)
        st.session_state.pop(f"camera_seen_{widget}", None)


def _privacy_sentence() -> str:
    s = get_services().settings
    return tr(
        "camera.privacy",
        match=human_duration(s.retention_match_hours, lang()),
        unknown=human_duration(s.retention_unknown_hours, lang()),
    )


def _privacy_details() -> None:
    s = get_services().settings
    st.markdown(tr("camera.privacy_details", logs=human_duration(s.retention_log_days * 24, lang())))


@st.cache_data(ttl=5, show_spinner=False)  # a Rekognition call in aws; an enrolment shows within 5 s
def _anyone_enrolled(settings_key: str) -> bool:
    try:
        return people.anyone_enrolled(get_services())
    except FaceGateError:
        return True  # the health line and the capture itself report the problem


# The layout is for a thumb on a 390x844 phone: preview, shutter and verdict on one screen.
# What happens to the photo is said in full before the first photo in this browser; after that
# it is one tap away below the camera (a cookie remembers the first visit).
SEEN_COOKIE = "facegate_seen_camera"
first_visit = cookie(SEEN_COOKIE) is None
st.title(tr("camera.title"))
if first_visit:
    st.caption(tr("camera.intro"))
    st.info(_privacy_sentence(), icon="🔒")
verdict_slot = st.container(key="verdict_slot")
# Tab state is tracked (on_change="rerun") so Live's video component exists only while its tab is
# open, and the camera widget only while Live is not: a phone may give the camera to one page
# element at a time.
tab_camera, tab_upload, tab_live = st.tabs(
    [tr("camera.tab_camera"), tr("camera.tab_upload"), tr("camera.tab_live")], key="camera_mode", on_change="rerun"
)
with tab_camera:
    shot = (
        None if tab_live.open else st.camera_input(tr("camera.take"), key="camera_shot", label_visibility="collapsed")
    )
with tab_upload:
    upload = st.file_uploader(
        tr("camera.upload", mb=MAX_UPLOAD_BYTES // (1024 * 1024)), type=["jpg", "jpeg", "png"], key="camera_upload"
    )
with tab_live:
    if tab_live.open:
        render_live()
_forget_cleared(shot, upload)
if shot is not None:
    _take("shot", shot, verdict_slot)
if upload is not None:
    _take("upload", upload, verdict_slot)

outcome = st.session_state.get("camera_outcome")
if outcome is not None:
    _widget, result, data = outcome
    if isinstance(result, FaceGateError):
        with verdict_slot, st.container(key="verdict", border=True):
            st.error(error_text(result), icon="⚠️")
    else:
        with verdict_slot:
            _verdict(result, data)
        _details(result, data)
if not _anyone_enrolled(repr(get_services().settings)):
    st.info(tr("camera.nobody_enrolled"), icon="🧑")
if first_visit:
    with st.expander(tr("camera.privacy_more")):
        _privacy_details()
    set_cookie(SEEN_COOKIE, "1", 365 * 24 * 3600)
else:
    with st.expander(tr("camera.privacy_folded")):
        st.markdown(_privacy_sentence())
        _privacy_details()
