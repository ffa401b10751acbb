"""People: enrol from the camera or several photos; list, rename, delete a face or a person."""

from __future__ import annotations

import streamlit as st

from core.app import i18n
from core.errors import ResourceNotFound
from core.images.codec import MAX_IMAGE_BYTES
from core.usecases import people, retention
from pages._shared import error_text, get_services, private_image, reason_text, run_action, through_router, tr

through_router()
i18n.register(
    {
        "people.title": ("登録者", "People"),
        "people.enrol": ("➕ 人を登録する", "➕ Enrol a person"),
        "people.enrol_help": (
            "同じ人の写真を数枚登録すると精度が上がります。1 枚に 1 人だけ写してください。",
            "Several photos of the same person improve accuracy. One person per photo.",
        ),
        "people.name": ("名前（英数字、例: Taro_Yamada）", "Name (letters and digits, e.g. Taro_Yamada)"),
        "people.tab_camera": ("📷 撮影", "📷 Camera"),
        "people.tab_upload": ("🖼️ 写真を選ぶ（複数可）", "🖼️ Upload (several)"),
        "people.take": ("登録する顔を撮影", "Take a photo to enrol"),
        "people.upload": ("JPEG / PNG（各 {mb} MB まで）", "JPEG / PNG (up to {mb} MB each)"),
        "people.enrol_button": ("登録する", "Enrol"),
        "people.need_name": ("名前を入力してください。", "Enter a name."),
        "people.need_photo": ("写真を撮るか選んでください。", "Take or choose at least one photo."),
        "people.working": ("登録しています…", "Enrolling…"),
        "people.indexed": ("✅ {file}: 登録しました", "✅ {file}: enrolled"),
        "people.not_indexed": ("❌ {file}: 登録できませんでした — {reasons}", "❌ {file}: not enrolled — {reasons}"),
        "people.enrolled_summary": (
            "{person}: {ok} / {total} 枚を登録しました",
            "{person}: {ok} of {total} photos enrolled",
        ),
        "people.list": ("登録済みの人", "Enrolled people"),
        "people.empty": ("まだ誰も登録されていません。", "Nobody is enrolled yet."),
        "people.meta": ("顔 {count} 件 · 登録 {date}", "{count} face(s) · enrolled {date}"),
        "people.date_unknown": ("不明", "unknown"),
        "people.manage": ("編集・削除", "Edit or delete"),
        "people.rename_to": ("新しい名前", "New name"),
        "people.rename": ("名前を変更", "Rename"),
        "people.renamed": ("{old} を {new} に変更しました。", "Renamed {old} to {new}."),
        "people.faces": ("登録された顔", "Enrolled faces"),
        "people.no_photo": ("写真なし（アプリ外で登録）", "no photo (enrolled outside the app)"),
        "people.delete_face": ("この顔を削除", "Delete this face"),
        "people.face_deleted": ("顔を 1 件削除しました。", "Deleted one face."),
        "people.confirm_delete": (
            "{person} の顔・写真・ログの名前をすべて削除します",
            "Delete every face, photo and log entry of {person}",
        ),
        "people.delete_person": ("この人を削除", "Delete this person"),
        "people.person_deleted": (
            "{person} を削除しました（顔 {faces} 件・写真 {objects} 件・撮影記録 {captures} 件・"
            "ログ {log_records} 件）。",
            "Deleted {person} ({faces} faces, {objects} stored files, {captures} captures, {log_records} log records).",
        ),
    }
)

svc = get_services()
st.title(tr("people.title"))

if "people_flash" in st.session_state:  # the outcome of the last action, shown after the rerun
    st.success(st.session_state.pop("people_flash"))

with st.expander(tr("people.enrol"), expanded=True):
    st.caption(tr("people.enrol_help"))
    name = st.text_input(tr("people.name"), key="enrol_name", placeholder="Taro_Yamada")
    tab_camera, tab_upload = st.tabs([tr("people.tab_camera"), tr("people.tab_upload")])
    with tab_camera:
        shot = st.camera_input(tr("people.take"), key="enrol_shot")
    with tab_upload:
        uploads = st.file_uploader(
            tr("people.upload", mb=MAX_IMAGE_BYTES // (1024 * 1024)),
            type=["jpg", "jpeg", "png"],
            accept_multiple_files=True,
            key="enrol_uploads",
        )
    if st.button(tr("people.enrol_button"), type="primary", key="enrol_button", width="stretch"):
        images = [("camera.jpg", shot.getvalue())] if shot is not None else []
        images += [(u.name, u.getvalue()) for u in uploads or []]
        if not name.strip():
            st.warning(tr("people.need_name"))
        elif not images:
            st.warning(tr("people.need_photo"))
        else:
            with st.spinner(tr("people.working")):
                outcomes = run_action(
                    people.enrol_person,
                    svc,
                    name,
                    images,
                    source="camera" if shot is not None and not uploads else "upload",
                )
            if outcomes is not None:
                st.session_state["enrol_outcomes"] = (people.person_key(name), outcomes)
    if "enrol_outcomes" in st.session_state:
        person, outcomes = st.session_state["enrol_outcomes"]
        with st.container(key="enrol_outcomes"):
            ok = sum(o.indexed for o in outcomes)
            (st.success if ok else st.error)(tr("people.enrolled_summary", person=person, ok=ok, total=len(outcomes)))
            for o in outcomes:
                if o.indexed:
                    st.markdown(tr("people.indexed", file=o.source_name))
                else:
                    why = error_text(o.error) if o.error is not None else reason_text(o.reasons)
                    st.markdown(tr("people.not_indexed", file=o.source_name, reasons=why))


def _thumb(key: str | None, width: int = 72) -> None:
    if key:
        try:
            private_image(people.thumbnail(svc, key), width)  # no /media URL (SECURITY.md)
            return
        except ResourceNotFound:
            pass
    st.markdown("🙂")


def _manage(person: people.Person, i: int) -> None:
    new = st.text_input(tr("people.rename_to"), key=f"rename_to_{i}", value=person.name)
    if st.button(tr("people.rename"), key=f"rename_{i}", width="stretch"):
        renamed = run_action(people.rename_person, svc, person.name, new)
        if renamed is not None:
            st.session_state["people_flash"] = tr("people.renamed", old=person.name, new=renamed.name)
            st.rerun()
    st.markdown(f"**{tr('people.faces')}**")
    shown = set()
    for e in person.enrolments:
        for face_id in e.face_ids:
            if face_id not in person.face_ids:
                continue
            shown.add(face_id)
            # A horizontal container stays side by side on a phone (columns would stack).
            with st.container(horizontal=True, vertical_alignment="center"):
                _thumb(e.thumb_key, 64)
                with st.container():
                    st.caption(f"`{face_id[:8]}` · {e.enrolled_at:%Y-%m-%d}" if e.enrolled_at else f"`{face_id[:8]}`")
                    _delete_face_button(person, face_id)
    for face_id in person.face_ids:
        if face_id not in shown:
            st.caption(f"`{face_id[:8]}` · {tr('people.no_photo')}")
            _delete_face_button(person, face_id)
    sure = st.checkbox(tr("people.confirm_delete", person=person.name), key=f"confirm_delete_{i}")
    if st.button(
        tr("people.delete_person"), key=f"delete_person_{i}", type="primary", disabled=not sure, width="stretch"
    ):
        counts = run_action(retention.delete_person, svc, person.name)
        if counts is not None:
            st.session_state["people_flash"] = tr("people.person_deleted", person=person.name, **counts)
            st.rerun()


def _delete_face_button(person: people.Person, face_id: str) -> None:
    if (
        st.button(tr("people.delete_face"), key=f"delete_face_{face_id}")
        and run_action(people.delete_face, svc, person.name, face_id) is not None
    ):
        st.session_state["people_flash"] = tr("people.face_deleted")
        st.rerun()


st.subheader(tr("people.list"))
everyone = run_action(people.list_people, svc) or []
if not everyone:
    st.info(tr("people.empty"))
for i, person in enumerate(everyone):
    with st.container(border=True, key=f"person_{i}"):
        with st.container(horizontal=True, vertical_alignment="center"):
            _thumb(person.thumb_key)
            with st.container():
                st.markdown(f"**{person.name}**")
                date = f"{person.enrolled_at:%Y-%m-%d}" if person.enrolled_at else tr("people.date_unknown")
                st.caption(tr("people.meta", count=person.face_count, date=date))
        with st.expander(tr("people.manage")):
            _manage(person, i)
