"""History page: recent recognitions, filters, and corrections."""

from __future__ import annotations

from tests.app.conftest import inline_images, jpeg, open_page, texts


def _capture(app, data: bytes):
    open_page(app, "camera")
    app.camera_input(key="camera_shot").set_value(("image.jpg", data, "image/jpeg")).run()
    assert not app.exception


def _cards(app) -> list[str]:
    """The result line of each capture card."""
    return [m.value for m in app.markdown if m.value.startswith("顔 1:")]


def test_history_lists_filters_and_enrols_unknown_as_new_person(app, enrol, labelled, services):
    from core.usecases import history

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
    from core.usecases import history

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
