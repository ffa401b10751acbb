"""People: enrol from the camera or several photos (reviewed first); list, rename, delete a face
or a person."""

from __future__ import annotations

import hashlib

import streamlit as st

from core.app import i18n
from core.errors import ResourceNotFound
from core.images.codec import MAX_UPLOAD_BYTES, decode_image
from core.usecases import people, retention
from core.usecases.capture import FaceResult, draw_faces
from pages._shared import (
    error_text,
    get_services,
    local_time,
    md,
    private_image,
    reason_text,
    run_action,
    through_router,
    tr,
)

through_router()
i18n.register(
    {
        "people.title": ("登録者", "People"),
        "people.enrol": ("➕ 人を登録する", "➕ Enrol a person"),
        "people.enrol_help": (
            "同じ人の写真を数枚登録すると精度が上がります。登録の前に、写真ごとに顔と重複・別人を確かめます。",
            "Several photos of the same person improve accuracy. Before enrolling, each photo is checked "
            "for its faces, duplicates and other people.",
        ),
        "people.name": ("名前（例: 山田 太郎、Taro Yamada）", "Name (for example Taro Yamada, 山田 太郎)"),
        "people.tab_camera": ("📷 撮影", "📷 Camera"),
        "people.tab_upload": ("🖼️ 写真を選ぶ（複数可）", "🖼️ Upload (several)"),
        "people.take": ("登録する顔を撮影", "Take a photo to enrol"),
        "people.upload": ("JPEG / PNG（各 {mb} MB まで）", "JPEG / PNG (up to {mb} MB each)"),
        "people.enrol_button": ("登録する", "Enrol"),
        "people.need_name": ("名前を入力してください。", "Enter a name."),
        "people.need_photo": ("写真を撮るか選んでください。", "Take or choose at least one photo."),
        "people.checking": ("写真を確かめています…", "Checking the photos…"),
        "people.working": ("登録しています…", "Enrolling…"),
        "people.review": (
            "登録の前に確かめてください（{name}）",
            "Please check before enrolling ({name})",
        ),
        "people.photo_n": ("写真 {n}: {file}", "Photo {n}: {file}"),
        "people.choose_face": (
            "この写真には {n} 人の顔があります。登録する顔の番号を選んでください。",
            "This photo has {n} faces. Pick the number of the face to enrol.",
        ),
        "people.which_face": ("登録する顔", "Face to enrol"),
        "people.warn.DUPLICATE": ("同じ写真が既にあります（{what}）。", "The same photo is already here ({what})."),
        "people.dup_enrolled": ("登録済み", "already enrolled"),
        "people.warn.OTHER_PERSON": (
            "この顔は既に **{other}** さんとして登録されている人に一致します（類似度 {similarity:.1f}%）。",
            "This face already matches **{other}**, who is enrolled (similarity {similarity:.1f}%).",
        ),
        "people.warn.NOT_LIKE_PERSON": (
            "{name} さんの登録済みの顔と似ていません（類似度 {similarity:.1f}%、しきい値 {threshold:.0f}%）。"
            "別の人の写真ではありませんか？",
            "It does not look like {name}'s enrolled faces (similarity {similarity:.1f}%, threshold "
            "{threshold:.0f}%). Is it someone else?",
        ),
        "people.warn.NOT_LIKE_FIRST": (
            "写真 1 の顔と似ていません（類似度 {similarity:.1f}%）。同じ人の写真ですか？",
            "It does not look like the face in photo 1 (similarity {similarity:.1f}%). Is it the same person?",
        ),
        "people.include_anyway": ("それでもこの写真を登録する", "Enrol this photo anyway"),
        "people.enrol_reviewed": ("この内容で登録する", "Enrol as checked"),
        "people.cancel_review": ("やめる", "Cancel"),
        "people.indexed": ("✅ {file}: 登録しました", "✅ {file}: enrolled"),
        "people.not_indexed": ("❌ {file}: 登録できませんでした — {reasons}", "❌ {file}: not enrolled — {reasons}"),
        "people.skipped": ("⏭️ {file}: 登録しませんでした", "⏭️ {file}: not enrolled (left out)"),
        "people.enrolled_summary": (
            "{person}: {ok} / {total} 枚を登録しました",
            "{person}: {ok} of {total} photos enrolled",
        ),
        "people.id_note": (
            "ID（ログと Web API の Person）: `{id}`",
            "Id (Person in the logs and the Web API): `{id}`",
        ),
        "people.list": ("登録済みの人", "Enrolled people"),
        "people.empty": ("まだ誰も登録されていません。", "Nobody is enrolled yet."),
        "people.meta": ("顔 {count} 件 · 登録 {date}", "{count} face(s) · enrolled {date}"),
        "people.date_unknown": ("不明", "unknown"),
        "people.manage": ("編集・削除", "Edit or delete"),
        "people.rename_to": ("表示名", "Display name"),
        "people.rename": ("表示名を変更", "Change the name"),
        "people.renamed": ("{old} を {new} に変更しました。", "Renamed {old} to {new}."),
        "people.faces": ("登録された顔", "Enrolled faces"),
        "people.no_photo": ("写真なし（アプリ外で登録）", "no photo (enrolled outside the app)"),
        "people.delete_face": ("この顔を削除", "Delete this face"),
        "people.face_deleted": ("顔を 1 件削除しました。", "Deleted one face."),
        "people.confirm_face": (
            "{person} さんの顔 {n} 件のうち 1 件を削除します。",
            "This deletes one of {person}'s {n} faces.",
        ),
        "people.confirm_face_only": (
            "これは {person} さんの唯一の顔です。削除すると {person} さんは特定されなくなります。",
            "This is {person}'s only face. Without it {person} is no longer identified.",
        ),
        "people.delete_face_sure": ("削除する", "Delete"),
        "people.undo": ("元に戻す（{person} さんの顔）", "Undo (bring back {person}'s face)"),
        "people.undone": ("{person} さんの顔を元に戻しました。", "{person}'s face is back."),
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
undo = st.session_state.get("people_undo")  # (person id, display name, face id) of a deleted face
if undo is not None and st.button(tr("people.undo", person=md(undo[1])), key="people_undo_button", icon="↩️"):
    outcome = run_action(people.undo_delete_face, svc, undo[0], undo[2])
    st.session_state.pop("people_undo", None)
    if outcome is not None and outcome.indexed:
        st.session_state["people_flash"] = tr("people.undone", person=md(undo[1]))
        st.rerun()


# --- enrolment --------------------------------------------------------------------------------
# The form's widgets carry a generation number: after a successful enrolment the number goes up
# and every field (name, camera, uploads) starts empty, ready for the next person.
form = st.session_state.setdefault("enrol_form", 0)


def _enrol(name: str, images: list[tuple[str, bytes]], boxes: list, source: str, total: int | None = None) -> None:
    with st.spinner(tr("people.working")):
        outcomes = run_action(people.enrol_person, svc, name, images, source=source, face_boxes=boxes)
    if outcomes is None:
        return
    st.session_state["enrol_outcomes"] = (name, outcomes, total or len(images))
    st.session_state.pop("enrol_review", None)
    if any(o.indexed for o in outcomes):
        st.session_state["enrol_form"] = form + 1  # a clean form for the next person
        st.rerun()


def _face_picker(n: int, data: bytes, review: people.PhotoReview) -> int | None:
    rgb = decode_image(data, max_bytes=MAX_UPLOAD_BYTES).rgb
    marks = [FaceResult(box=b, detail={}, searched=False) for b in review.faces]
    private_image(draw_faces(rgb, marks, max_side=480, unknown_label=""), 300)  # no /media URL
    st.caption(tr("people.choose_face", n=len(review.faces)))
    return st.segmented_control(
        tr("people.which_face"),
        list(range(len(review.faces))),
        format_func=lambda i: str(i + 1),
        key=f"enrol_pick_{form}_{n}",
        default=review.chosen,
    )


def _warning_text(code: str, review: people.PhotoReview, name: str) -> str:
    if code == "DUPLICATE":
        what = tr("people.dup_enrolled") if review.duplicate_of == people.ENROLLED else review.duplicate_of
        return tr("people.warn.DUPLICATE", what=what)
    if code == "OTHER_PERSON":
        _pid, other, similarity = review.other_person
        return tr("people.warn.OTHER_PERSON", other=md(other), similarity=similarity)
    if code == "NOT_LIKE_PERSON":
        return tr(
            "people.warn.NOT_LIKE_PERSON", name=md(name), similarity=review.like_person, threshold=review.threshold
        )
    return tr("people.warn.NOT_LIKE_FIRST", similarity=review.like_first)


def _review(name: str, images: list[tuple[str, bytes]], source: str) -> None:
    """The photos with something to decide: a face to pick, or a warning to read and accept."""

    choices = st.session_state.get("enrol_choices", {})
    # Checked once per name, photos and picks (each check searches the collection), not per rerun.
    key = (name, tuple(hashlib.sha256(d).hexdigest() for _n, d in images), tuple(sorted(choices.items())))
    cached = st.session_state.get("enrol_review_cache")
    if cached is not None and cached[0] == key:
        reviews = cached[1]
    else:
        with st.spinner(tr("people.checking")):
            reviews = run_action(people.review_photos, svc, name, images, choices)
        if reviews is None:
            st.session_state.pop("enrol_review", None)
            return
        st.session_state["enrol_review_cache"] = (key, reviews)
    if not choices and not any(r.warnings for r in reviews):  # nothing to decide: enrol straight away
        st.session_state["enrol_skipped"] = []
        _enrol(name, images, [None] * len(images), source)
        return
    with st.container(border=True, key="enrol_review"):
        st.markdown(f"**{tr('people.review', name=md(name))}**")
        keep, boxes = [], []
        for n, (review, (file_name, data)) in enumerate(zip(reviews, images, strict=True)):
            if not review.usable:
                keep.append(True)  # enrolling reports why it could not
                boxes.append(None)
                continue
            chosen = review.chosen
            if len(review.faces) > 1 or review.warnings:
                st.markdown(tr("people.photo_n", n=n + 1, file=file_name))
            if len(review.faces) > 1:
                picked = _face_picker(n, data, review)
                if picked != choices.get(n):
                    choices[n] = picked
                    st.session_state["enrol_choices"] = choices
                    st.rerun()  # check the newly picked face
                chosen = picked
            include = True
            warnings = [w for w in review.warnings if w != "CHOOSE_FACE"]
            for code in warnings:
                st.warning(_warning_text(code, review, name), icon="⚠️")
            if warnings:
                include = st.checkbox(tr("people.include_anyway"), key=f"enrol_include_{form}_{n}")
            keep.append(include and chosen is not None)
            boxes.append(review.faces[chosen] if chosen is not None and len(review.faces) > 1 else None)
        cols = st.container(horizontal=True)
        with cols:
            go = st.button(tr("people.enrol_reviewed"), key="enrol_reviewed", type="primary")
            stop = st.button(tr("people.cancel_review"), key="enrol_cancel")
    if stop:
        st.session_state.pop("enrol_review", None)
        st.session_state.pop("enrol_choices", None)
        st.rerun()
    if go:
        chosen_images = [img for img, k in zip(images, keep, strict=True) if k]
        skipped = [img[0] for img, k in zip(images, keep, strict=True) if not k]
        st.session_state["enrol_skipped"] = skipped
        if chosen_images:
            _enrol(name, chosen_images, [b for b, k in zip(boxes, keep, strict=True) if k], source, len(images))
        else:
            st.session_state.pop("enrol_review", None)
            st.session_state["enrol_outcomes"] = (name, [], len(images))
            st.rerun()


with st.expander(tr("people.enrol"), expanded=True):
    st.caption(tr("people.enrol_help"))
    name = st.text_input(tr("people.name"), key=f"enrol_name_{form}", placeholder="山田 太郎 / Taro Yamada")
    tab_camera, tab_upload = st.tabs([tr("people.tab_camera"), tr("people.tab_upload")])
    with tab_camera:
        shot = st.camera_input(tr("people.take"), key=f"enrol_shot_{form}", label_visibility="collapsed")
    with tab_upload:
        uploads = st.file_uploader(
            tr("people.upload", mb=MAX_UPLOAD_BYTES // (1024 * 1024)),
            type=["jpg", "jpeg", "png"],
            accept_multiple_files=True,
            key=f"enrol_uploads_{form}",
        )
    images = [("camera.jpg", shot.getvalue())] if shot is not None else []
    images += [(u.name, u.getvalue()) for u in uploads or []]
    source = "camera" if shot is not None and not uploads else "upload"
    if st.button(tr("people.enrol_button"), type="primary", key="enrol_button", width="stretch"):
        st.session_state.pop("enrol_outcomes", None)
        st.session_state.pop("enrol_choices", None)
        if not name.strip():
            st.warning(tr("people.need_name"))
        elif not images:
            st.warning(tr("people.need_photo"))
        else:
            st.session_state["enrol_review"] = True
    if st.session_state.get("enrol_review") and images and name.strip():
        _review(name, images, source)
    if "enrol_outcomes" in st.session_state:
        person, outcomes, total = st.session_state["enrol_outcomes"]
        with st.container(key="enrol_outcomes"):
            ok = sum(o.indexed for o in outcomes)
            (st.success if ok else st.error)(tr("people.enrolled_summary", person=md(person), ok=ok, total=total))
            for o in outcomes:
                if o.indexed:
                    st.markdown(tr("people.indexed", file=o.source_name))
                else:
                    why = error_text(o.error) if o.error is not None else reason_text(o.reasons)
                    st.markdown(tr("people.not_indexed", file=o.source_name, reasons=why))
            for file_name in st.session_state.get("enrol_skipped", []):
                st.markdown(tr("people.skipped", file=file_name))


# --- the list ---------------------------------------------------------------------------------
def _thumb(key: str | None, width: int = 72) -> None:
    if key:
        try:
            private_image(people.thumbnail(svc, key), width)  # no /media URL (SECURITY.md)
            return
        except ResourceNotFound:
            pass
    st.markdown("🙂")


def _forget_widgets(person_id: str) -> None:
    """Drop the deleted person's widget state, so nothing of it lands on another card."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.endswith(f"__{person_id}")]:
        del st.session_state[key]


def _manage(person: people.Person) -> None:
    # Every widget is keyed by the person's id, never by position: after a delete the next
    # person's card must not inherit a typed name, a ticked box or an armed button.
    pid = person.name
    new = st.text_input(tr("people.rename_to"), key=f"rename_to__{pid}", value=person.display_name)
    if st.button(tr("people.rename"), key=f"rename__{pid}", width="stretch"):
        renamed = run_action(people.rename_person, svc, pid, new)
        if renamed is not None:
            st.session_state["people_flash"] = tr(
                "people.renamed", old=md(person.display_name), new=md(renamed.display_name)
            )
            st.rerun()
    st.caption(tr("people.id_note", id=pid))
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
                    when = f" · {local_time(e.enrolled_at, '%Y-%m-%d', zone=False)}" if e.enrolled_at else ""
                    st.caption(f"`{face_id[:8]}`{when}")
                    _delete_face_button(person, face_id)
    for face_id in person.face_ids:
        if face_id not in shown:
            st.caption(f"`{face_id[:8]}` · {tr('people.no_photo')}")
            _delete_face_button(person, face_id)
    sure = st.checkbox(tr("people.confirm_delete", person=md(person.display_name)), key=f"confirm_delete__{pid}")
    if st.button(
        tr("people.delete_person"), key=f"delete_person__{pid}", type="primary", disabled=not sure, width="stretch"
    ):
        counts = run_action(retention.delete_person, svc, pid)
        if counts is not None:
            _forget_widgets(pid)
            st.session_state["people_flash"] = tr("people.person_deleted", person=md(person.display_name), **counts)
            st.rerun()


def _delete_face_button(person: people.Person, face_id: str) -> None:
    """Delete one face: first say what is lost (their only face?), then do it, with undo."""
    if st.session_state.get("people_confirm_face") != face_id:
        if st.button(tr("people.delete_face"), key=f"delete_face_{face_id}"):
            st.session_state["people_confirm_face"] = face_id
            st.rerun()
        return
    what = "people.confirm_face_only" if person.face_count == 1 else "people.confirm_face"
    st.warning(tr(what, person=md(person.display_name), n=person.face_count), icon="⚠️")
    with st.container(horizontal=True):
        sure = st.button(tr("people.delete_face_sure"), key=f"delete_face_sure_{face_id}", type="primary")
        cancel = st.button(tr("people.cancel_review"), key=f"delete_face_cancel_{face_id}")
    if cancel:
        st.session_state.pop("people_confirm_face", None)
        st.rerun()
    if sure and run_action(people.delete_face, svc, person.name, face_id, keep_for_undo=True) is not None:
        st.session_state.pop("people_confirm_face", None)
        st.session_state["people_flash"] = tr("people.face_deleted")
        st.session_state["people_undo"] = (person.name, person.display_name, face_id)
        st.rerun()


st.subheader(tr("people.list"))
everyone = run_action(people.list_people, svc) or []
if not everyone:
    st.info(tr("people.empty"))
for person in everyone:
    with st.container(border=True, key=f"person__{person.name}"):
        with st.container(horizontal=True, vertical_alignment="center"):
            _thumb(person.thumb_key)
            with st.container():
                st.markdown(f"**{md(person.display_name)}**")
                when = person.enrolled_at
                date = local_time(when, "%Y-%m-%d", zone=False) if when else tr("people.date_unknown")
                st.caption(tr("people.meta", count=person.face_count, date=date))
        with st.expander(tr("people.manage"), key=f"manage__{person.name}"):
            _manage(person)
