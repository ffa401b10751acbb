"""History page: recent recognitions, filters, and corrections."""

from __future__ import annotations

from core.usecases import history
from tests.app.conftest import inline_images, jpeg, open_page, texts


def _capture(app, data: bytes):
    open_page(app, "camera")
    app.camera_input(key="camera_shot").set_value(("image.jpg", data, "image/jpeg")).run()
    assert not app.exception


def _cards(app) -> list[str]:
    """The result line of each capture card."""
    return [m.value for m in app.markdown if m.value.startswith("顔 1:")]


def test_history_lists_filters_and_enrols_unknown_as_new_person(app, enrol, labelled, services):
    enrol("amy")
    _capture(app, jpeg(labelled["amy"][4]))
    _capture(app, jpeg(labelled["howard"][1]))
    open_page(app, "history")
    seen = texts(app)
    assert "顔 1: **amy** · " in seen and "🚪 ドア開" in seen
    assert "顔 1: **人物を特定できませんでした**" in seen
    # A thumbnail per capture (no phone QR code: AppTest's server is not on https).
    assert "端末 id001" in seen and len(inline_images(app)) == 2 and not app.image  # no /media URL
    # Filter: unknown faces only.
    app.selectbox(key="history_filter").set_value("__unknown__").run()
    assert len(_cards(app)) == 1 and "人物を特定できませんでした" in _cards(app)[0]
    # "Enrol as a new person" from the unknown capture ...
    cid = next(c.capture_id for c in history.list_captures(services) if c.person is None)
    app.button(key=f"correct_{cid}").click().run()
    app.text_input(key=f"new_name_{cid}").input("Howard")
    app.button(key=f"new_button_{cid}").click().run()
    assert "この顔を Howard として登録しました。" in texts(app)
    assert "訂正済み: + Howard" in texts(app)
    # ... and Howard is now recognised.
    _capture(app, jpeg(labelled["howard"][3]))
    assert "✅ Howard さん" in texts(app)


def test_wrong_match_deletes_the_face_that_caused_it(app, enrol, labelled, services):
    # Enrol Penny's photo under the wrong name, so Penny is "recognised" as bernadette.
    enrol("penny", n=1, as_name="bernadette")
    enrol("bernadette", n=2)
    _capture(app, jpeg(labelled["penny"][2]))
    assert "✅ bernadette さん" in texts(app)
    cap = history.list_captures(services)[0]
    culprit = cap.faces[0].face_id
    open_page(app, "history")
    app.button(key=f"correct_{cap.capture_id}").click().run()
    app.button(key=f"wrong_{cap.capture_id}").click().run()
    # §2: it says what is lost before it deletes anything.
    assert "bernadette さんの登録済みの顔 3 件のうち、この一致の原因になった 1 件を削除します。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["bernadette"]) == 3
    app.button(key=f"wrong_sure_{cap.capture_id}").click().run()
    assert f"bernadette の顔 {culprit[:8]} を削除しました。" in texts(app)
    faces = services.faces.faces_by_external_id(services.settings.collection)["bernadette"]
    assert culprit not in {f["FaceId"] for f in faces} and len(faces) == 2
    # "This is penny" needs a penny in the collection: enrol her, then correct the capture.
    enrol("penny", n=1)
    app.run()
    app.button(key=f"correct_{cap.capture_id}").click().run()
    app.selectbox(key=f"this_is_{cap.capture_id}").set_value("penny").run()
    app.button(key=f"this_is_button_{cap.capture_id}").click().run()
    assert "この顔を penny として登録しました。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["penny"]) == 2
    # Now the same face is Penny, and the door opens for her.
    _capture(app, jpeg(labelled["penny"][2]))
    assert "✅ penny さん" in texts(app)


def test_wrong_match_on_someones_only_face_confirms_and_can_be_undone(app, enrol, labelled, services):
    """Issue 17 §2: one tap no longer deletes Raj's only face: the page says it is his only
    face, deletes it only when confirmed, and brings it back on undo."""
    enrol("leonard", n=1, as_name="raj")
    _capture(app, jpeg(labelled["leonard"][3]))
    assert "✅ raj さん" in texts(app)
    cap = history.list_captures(services)[0]
    open_page(app, "history")
    app.button(key=f"correct_{cap.capture_id}").click().run()
    next(b for b in app.button if b.label == "誤認識: raj ではない").click().run()
    seen = texts(app)
    assert "これは raj さんの唯一の顔です。削除すると raj さんは登録者の一覧から消え" in seen
    assert "30 分以内なら元に戻せます。" in seen
    assert "raj" in services.faces.faces_by_external_id(services.settings.collection)  # nothing deleted yet
    next(b for b in app.button if b.label == "削除する").click().run()
    assert "raj" not in services.faces.faces_by_external_id(services.settings.collection)
    next(b for b in app.button if b.label == "元に戻す（raj さんの顔）").click().run()
    assert "raj さんの顔を元に戻しました。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["raj"]) == 1
    _capture(app, jpeg(labelled["leonard"][3]))
    assert "✅ raj さん" in texts(app)


def test_history_filters_by_door_and_period_in_a_grid(app, enrol, labelled, services):
    """Issue 17 §15: on a PC a grid (columns) with filters, not one narrow column."""
    from datetime import UTC, datetime, timedelta

    from core.usecases.capture import capture_photo

    enrol("amy")
    capture_photo(services, jpeg(labelled["amy"][4]), "old.jpg", when=datetime.now(UTC) - timedelta(days=3))
    _capture(app, jpeg(labelled["amy"][3]))
    _capture(app, jpeg(labelled["howard"][1]))
    open_page(app, "history")
    assert len(app.columns) >= 3  # a row of the grid
    assert len(_cards(app)) == 3
    app.segmented_control(key="history_door").set_value("opened").run()
    assert len(_cards(app)) == 2 and all("amy" in c for c in _cards(app))
    app.segmented_control(key="history_period").set_value("1").run()
    assert len(_cards(app)) == 1
    app.segmented_control(key="history_door").set_value("closed").run()
    assert len(_cards(app)) == 1 and "人物を特定できませんでした" in _cards(app)[0]


def test_capture_times_are_shown_in_the_browsers_zone_with_the_zone(app, labelled, services):
    """Issue 12 §4: a browser in Tokyo reads JST on the camera card and in the history."""
    from core.app.times import local_text
    from core.usecases import history

    app.context = {"timezone": "Asia/Tokyo"}
    _capture(app, jpeg(labelled["howard"][1]))
    cap = history.list_captures(services)[0]
    from zoneinfo import ZoneInfo

    shown = local_text(cap.when, ZoneInfo("Asia/Tokyo"))
    assert shown.endswith(" JST") and f"{shown[11:]}" in texts(app)  # the camera card: the time, JST
    open_page(app, "history")
    assert shown in texts(app)  # the history: date, time, JST
