"""History: recent recognitions, filter by person or unknown, and correct mistakes."""

from __future__ import annotations

import streamlit as st

from core.app import i18n
from core.app.times import local_text
from core.usecases import history, people
from pages._shared import (
    error_text,
    get_services,
    private_image,
    reason_text,
    run_action,
    through_router,
    tr,
    viewer_zone,
)

through_router()
i18n.register(
    {
        "history.title": ("履歴", "History"),
        "history.filter": ("表示", "Show"),
        "history.all": ("すべて", "Everyone"),
        "history.unknown": ("特定できなかった顔", "Unknown faces"),
        "history.empty": (
            "まだ記録がありません。カメラで撮影してください。",
            "Nothing yet. Take a photo on the Camera page.",
        ),
        "history.meta": ("{time} · 端末 {device}", "{time} · device {device}"),
        "history.face_line": ("顔 {n}: **{who}**{similarity}", "Face {n}: **{who}**{similarity}"),
        "history.door_open": ("🚪 ドア開", "🚪 door opened"),
        "history.correct": ("訂正する", "Correct this"),
        "history.close": ("閉じる", "Close"),
        "history.which_face": ("どの顔？", "Which face?"),
        "history.this_is": ("この人は…", "This is…"),
        "history.this_is_button": ("この人として登録", "Enrol as this person"),
        "history.wrong": ("誤認識: {person} ではない", "Wrong match: not {person}"),
        "history.wrong_help": (
            "この一致の原因になった登録済みの顔を削除します。",
            "Deletes the enrolled face that caused this match.",
        ),
        "history.new_name": ("新しい人の名前", "New person's name"),
        "history.new_button": ("新しい人として登録", "Enrol as a new person"),
        "history.done_this_is": ("この顔を {person} として登録しました。", "Enrolled this face as {person}."),
        "history.done_wrong": ("{person} の顔 {face} を削除しました。", "Deleted {person}'s face {face}."),
        "history.done_wrong_gone": (
            "{person} の顔 {face} は既に削除されています。",
            "{person}'s face {face} was already deleted.",
        ),
        "history.not_indexed": ("登録できませんでした: {reasons}", "Could not enrol: {reasons}"),
        "history.corrections": ("訂正済み: {what}", "Corrected: {what}"),
        "history.no_people": ("登録者がいません。", "Nobody is enrolled yet."),
    }
)

svc = get_services()
st.title(tr("history.title"))

if not st.session_state.get("history_purged"):  # retention: once per session is enough
    run_action(history.purge_expired, svc)
    st.session_state["history_purged"] = True
if "history_flash" in st.session_state:
    st.success(st.session_state.pop("history_flash"))

names = [p.name for p in run_action(people.list_people, svc) or []]
choice = st.selectbox(
    tr("history.filter"),
    [None, history.UNKNOWN, *names],
    key="history_filter",
    format_func=lambda v: tr("history.all") if v is None else tr("history.unknown") if v == history.UNKNOWN else v,
)
captures = run_action(history.list_captures, svc, person=choice, limit=30) or []
if not captures:
    st.info(tr("history.empty"))


def _correction_text(c: dict) -> str:
    return {
        "this_is": f"= {c.get('person')}",
        "new_person": f"+ {c.get('person')}",
        "wrong_match": f"≠ {c.get('person')}",
    }.get(c.get("action"), str(c.get("action")))


def _finish(outcome, message: str) -> None:
    if outcome is None:
        return
    if getattr(outcome, "indexed", True) is False:
        why = error_text(outcome.error) if outcome.error is not None else reason_text(outcome.reasons)
        st.error(tr("history.not_indexed", reasons=why))
        return
    st.session_state["history_flash"] = message
    st.session_state.pop("history_correcting", None)
    st.rerun()


def _correct(cap: history.Capture) -> None:
    cid = cap.capture_id
    face_index = 0
    if len(cap.faces) > 1:
        face_index = st.selectbox(
            tr("history.which_face"),
            range(len(cap.faces)),
            key=f"face_{cid}",
            format_func=lambda i: f"{i + 1}: {cap.faces[i].person or tr('common.unknown_short')}",
        )
    face = cap.faces[face_index]
    if face.person:
        st.caption(tr("history.wrong_help"))
        if st.button(tr("history.wrong", person=face.person), key=f"wrong_{cid}", width="stretch"):
            done = run_action(history.mark_wrong_match, svc, cid, face_index)
            if done is not None:
                key = "history.done_wrong" if done["deleted"] else "history.done_wrong_gone"
                _finish(done, tr(key, person=done["person"], face=done["face_id"][:8]))
    others = [n for n in names if n != face.person]
    if others:
        who = st.selectbox(tr("history.this_is"), others, key=f"this_is_{cid}")
        if st.button(tr("history.this_is_button"), key=f"this_is_button_{cid}", width="stretch"):
            _finish(
                run_action(history.correct_as_person, svc, cid, who, face_index), tr("history.done_this_is", person=who)
            )
    if not face.person:
        new = st.text_input(tr("history.new_name"), key=f"new_name_{cid}", placeholder="Taro_Yamada")
        if st.button(tr("history.new_button"), key=f"new_button_{cid}", width="stretch") and new.strip():
            _finish(
                run_action(history.enrol_as_new_person, svc, cid, new, face_index),
                tr("history.done_this_is", person=people.person_key(new)),
            )
    if st.button(tr("history.close"), key=f"close_{cid}"):
        st.session_state.pop("history_correcting", None)
        st.rerun()


for cap in captures:
    with st.container(border=True, key=f"capture_{cap.capture_id}"):
        thumb = history.thumbnail(svc, cap)
        if thumb:
            private_image(thumb, 240)  # no /media URL (SECURITY.md)
        lines = []
        for n, f in enumerate(cap.faces, start=1):
            who = f.person or tr("common.unknown_person")
            sim = f" · {f.similarity:.1f}%" if f.person and f.similarity is not None else ""
            lines.append(tr("history.face_line", n=n, who=who, similarity=sim))
        st.markdown("  \n".join(lines) + (f"  \n{tr('history.door_open')}" if cap.door_opened else ""))
        st.caption(tr("history.meta", time=local_text(cap.when, viewer_zone()), device=cap.device_id))
        if cap.corrections:
            st.caption(tr("history.corrections", what=", ".join(_correction_text(c) for c in cap.corrections)))
        if st.session_state.get("history_correcting") == cap.capture_id:
            _correct(cap)
        elif st.button(tr("history.correct"), key=f"correct_{cap.capture_id}"):
            st.session_state["history_correcting"] = cap.capture_id
            st.rerun()
