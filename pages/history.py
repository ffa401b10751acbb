"""History: recent recognitions as a grid with filters (one column on a phone), and corrections
that say what they cost before they act (and can be undone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core.app import i18n
from core.app.times import local_text
from core.usecases import history, people
from core.usecases.people import UNDO_MINUTES
from pages._shared import (
    error_text,
    get_services,
    md,
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
        "history.filter": ("人", "Person"),
        "history.all": ("すべて", "Everyone"),
        "history.unknown": ("特定できなかった顔", "Unknown faces"),
        "history.door": ("ドア", "Door"),
        "history.door_any": ("すべて", "Any"),
        "history.door_opened": ("開いた", "Opened"),
        "history.door_closed": ("閉じたまま", "Stayed closed"),
        "history.period": ("期間", "Period"),
        "history.period.1": ("24 時間", "24 hours"),
        "history.period.7": ("7 日", "7 days"),
        "history.period.all": ("すべて", "All"),
        "history.count": ("{n} 件を表示", "Showing {n}"),
        "history.more": ("さらに表示", "Show more"),
        "history.empty": (
            "まだ記録がありません。カメラで撮影してください。",
            "Nothing yet. Take a photo on the Camera page.",
        ),
        "history.none_match": ("条件に合う記録はありません。", "No capture matches these filters."),
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
        "history.confirm_wrong": (
            "{person} さんの登録済みの顔 {n} 件のうち、この一致の原因になった 1 件を削除します。",
            "This deletes the one of {person}'s {n} enrolled faces that caused this match.",
        ),
        "history.confirm_wrong_only": (
            "これは {person} さんの唯一の顔です。削除すると {person} さんは登録者の一覧から消え、"
            "特定されなくなります。",
            "This is {person}'s only face. Without it {person} leaves the People list and is no longer identified.",
        ),
        "history.confirm_wrong_gone": (
            "{person} さんのこの顔は既に削除されています。",
            "This face of {person}'s is already deleted.",
        ),
        "history.undo_note": (
            "{minutes} 分以内なら元に戻せます。",
            "You can undo this for {minutes} minutes.",
        ),
        "history.wrong_sure": ("削除する", "Delete it"),
        "history.cancel": ("やめる", "Cancel"),
        "history.new_name": ("新しい人の名前", "New person's name"),
        "history.new_button": ("新しい人として登録", "Enrol as a new person"),
        "history.done_this_is": ("この顔を {person} として登録しました。", "Enrolled this face as {person}."),
        "history.done_wrong": ("{person} の顔 {face} を削除しました。", "Deleted {person}'s face {face}."),
        "history.done_wrong_gone": (
            "{person} の顔 {face} は既に削除されています。",
            "{person}'s face {face} was already deleted.",
        ),
        "history.undo": ("元に戻す（{person} さんの顔）", "Undo (bring back {person}'s face)"),
        "history.undone": ("{person} さんの顔を元に戻しました。", "{person}'s face is back."),
        "history.not_indexed": ("登録できませんでした: {reasons}", "Could not enrol: {reasons}"),
        "history.corrections": ("訂正済み: {what}", "Corrected: {what}"),
        "history.no_people": ("登録者がいません。", "Nobody is enrolled yet."),
    }
)

svc = get_services()
# On a PC the history is a grid, wider than the other pages; Streamlit stacks the columns on a phone.
st.html("<style>[data-testid='stMainBlockContainer'] { max-width: 90rem; }</style>")
st.title(tr("history.title"))

if not st.session_state.get("history_purged"):  # retention: once per session is enough
    run_action(history.purge_expired, svc)
    st.session_state["history_purged"] = True
if "history_flash" in st.session_state:
    st.success(st.session_state.pop("history_flash"))
undo = st.session_state.get("history_undo")  # (capture id, face index, display name)
if undo is not None and st.button(tr("history.undo", person=undo[2]), key="history_undo_button", icon="↩️"):
    outcome = run_action(history.undo_wrong_match, svc, undo[0], undo[1])
    st.session_state.pop("history_undo", None)
    if outcome is not None and outcome.indexed:
        st.session_state["history_flash"] = tr("history.undone", person=undo[2])
        st.rerun()

everyone = run_action(people.list_people, svc) or []
names = {p.name: p.display_name for p in everyone}


def _name(person_id: str | None) -> str:
    """A person's display name, Markdown-safe (for text elements)."""
    return md(names.get(person_id, person_id)) if person_id else tr("common.unknown_person")


def _choice_text(value: str | None) -> str:
    if value is None:
        return tr("history.all")
    return tr("history.unknown") if value == history.UNKNOWN else names[value]


# --- filters ----------------------------------------------------------------------------------
with st.container(horizontal=True, key="history_filters", vertical_alignment="bottom"):
    choice = st.selectbox(
        tr("history.filter"),
        [None, history.UNKNOWN, *names],
        key="history_filter",
        format_func=_choice_text,
        width=240,
    )
    door = st.segmented_control(
        tr("history.door"),
        ["any", "opened", "closed"],
        default="any",
        key="history_door",
        format_func=lambda v: tr(f"history.door_{v}"),
    )
    period = st.segmented_control(
        tr("history.period"),
        ["1", "7", "all"],
        default="all",
        key="history_period",
        format_func=lambda v: tr(f"history.period.{v}"),
    )
limit = st.session_state.setdefault("history_limit", 30)
since = None if period in (None, "all") else datetime.now(UTC) - timedelta(days=int(period))
captures = (
    run_action(
        history.list_captures,
        svc,
        person=choice,
        limit=limit,
        since=since,
        door={"opened": True, "closed": False}.get(door or "any"),
    )
    or []
)
if not captures:
    filtered = choice is not None or door not in (None, "any") or since is not None
    st.info(tr("history.none_match") if filtered else tr("history.empty"))
else:
    st.caption(tr("history.count", n=len(captures)))


def _correction_text(c: dict) -> str:
    return {
        "this_is": f"= {_name(c.get('person'))}",
        "new_person": f"+ {_name(c.get('person'))}",
        "wrong_match": f"≠ {_name(c.get('person'))}",
        "undo_wrong_match": f"↩ {_name(c.get('person'))}",
    }.get(c.get("action"), str(c.get("action")))


def _finish(outcome, message: str) -> None:
    if outcome is None:
        return
    if isinstance(outcome, people.ImageOutcome) and not outcome.indexed:
        why = error_text(outcome.error) if outcome.error is not None else reason_text(outcome.reasons)
        st.error(tr("history.not_indexed", reasons=why))
        return
    st.session_state["history_flash"] = message
    st.session_state.pop("history_correcting", None)
    st.session_state.pop("history_confirm", None)
    st.rerun()


def _wrong_match(cap: history.Capture, face_index: int) -> None:
    """Say what "wrong match" deletes ("Raj's only face"), then do it, with undo."""
    cid = cap.capture_id
    cost = run_action(history.wrong_match_cost, svc, cid, face_index)
    if cost is None:
        return
    who = md(names.get(cost["person"], cost["display_name"]))
    if cost["faces"] == 0:
        st.info(tr("history.confirm_wrong_gone", person=who))
    else:
        key = "history.confirm_wrong_only" if cost["faces"] == 1 else "history.confirm_wrong"
        st.warning(tr(key, person=who, n=cost["faces"]) + " " + tr("history.undo_note", minutes=UNDO_MINUTES), icon="⚠️")
    with st.container(horizontal=True):
        sure = st.button(tr("history.wrong_sure"), key=f"wrong_sure_{cid}", type="primary")
        cancel = st.button(tr("history.cancel"), key=f"wrong_cancel_{cid}")
    if cancel:
        st.session_state.pop("history_confirm", None)
        st.rerun()
    if sure:
        done = run_action(history.mark_wrong_match, svc, cid, face_index)
        if done is not None:
            if done["deleted"]:
                st.session_state["history_undo"] = (cid, face_index, who)
            key = "history.done_wrong" if done["deleted"] else "history.done_wrong_gone"
            _finish(done, tr(key, person=who, face=done["face_id"][:8]))


def _correct(cap: history.Capture) -> None:
    cid = cap.capture_id
    face_index = 0
    if len(cap.faces) > 1:
        face_index = st.selectbox(
            tr("history.which_face"),
            range(len(cap.faces)),
            key=f"face_{cid}",
            format_func=lambda i: f"{i + 1}: {names.get(cap.faces[i].person, cap.faces[i].person) or '?'}",
        )
    face = cap.faces[face_index]
    if face.person:
        if st.session_state.get("history_confirm") == (cid, face_index):
            _wrong_match(cap, face_index)
        else:
            st.caption(tr("history.wrong_help"))
            if st.button(tr("history.wrong", person=_name(face.person)), key=f"wrong_{cid}", width="stretch"):
                st.session_state["history_confirm"] = (cid, face_index)
                st.rerun()
    others = [pid for pid in names if pid != face.person]
    if others:
        who = st.selectbox(tr("history.this_is"), others, key=f"this_is_{cid}", format_func=names.get)
        if st.button(tr("history.this_is_button"), key=f"this_is_button_{cid}", width="stretch"):
            _finish(
                run_action(history.correct_as_person, svc, cid, who, face_index),
                tr("history.done_this_is", person=md(names[who])),
            )
    if not face.person:
        new = st.text_input(tr("history.new_name"), key=f"new_name_{cid}", placeholder="山田 太郎 / Taro Yamada")
        if st.button(tr("history.new_button"), key=f"new_button_{cid}", width="stretch") and new.strip():
            _finish(
                run_action(history.enrol_as_new_person, svc, cid, new, face_index),
                tr("history.done_this_is", person=md(" ".join(new.split()))),
            )
    if st.button(tr("history.close"), key=f"close_{cid}"):
        st.session_state.pop("history_correcting", None)
        st.session_state.pop("history_confirm", None)
        st.rerun()


def _card(cap: history.Capture) -> None:
    with st.container(border=True, key=f"capture_{cap.capture_id}"):
        thumb = history.thumbnail(svc, cap)
        if thumb:
            private_image(thumb, "stretch")  # no /media URL (SECURITY.md)
        lines = []
        for n, f in enumerate(cap.faces, start=1):
            sim = f" · {f.similarity:.1f}%" if f.person and f.similarity is not None else ""
            lines.append(tr("history.face_line", n=n, who=_name(f.person), similarity=sim))
        st.markdown("  \n".join(lines) + (f"  \n{tr('history.door_open')}" if cap.door_opened else ""))
        st.caption(tr("history.meta", time=local_text(cap.when, viewer_zone()), device=cap.device_id))
        if cap.corrections:
            st.caption(tr("history.corrections", what=", ".join(_correction_text(c) for c in cap.corrections)))
        if st.session_state.get("history_correcting") == cap.capture_id:
            _correct(cap)
        elif st.button(tr("history.correct"), key=f"correct_{cap.capture_id}"):
            st.session_state["history_correcting"] = cap.capture_id
            st.session_state.pop("history_confirm", None)
            st.rerun()


# A grid of three on a PC; Streamlit stacks columns into one on a phone (< 640 px).
COLUMNS = 3
for row in range(0, len(captures), COLUMNS):
    for column, cap in zip(st.columns(COLUMNS), captures[row : row + COLUMNS], strict=False):
        with column:
            _card(cap)
if len(captures) >= limit and st.button(tr("history.more"), key="history_more", width="stretch"):
    st.session_state["history_limit"] = limit + 30
    st.rerun()
