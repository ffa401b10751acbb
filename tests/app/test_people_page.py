"""People page: enrol (camera, several uploads, reviewed first), list, rename, delete a face or a
person — and what issue 17 found: no armed delete after a delete (§1), group photos, duplicates
and other people caught before enrolling, a clean form after it (§6), names in any script (§12)."""

from __future__ import annotations

import re

from tests.app.conftest import blank_jpeg, inline_images, jpeg, open_page, texts


def _enrolled(services) -> dict:
    """Faces by person id in the collection ({} before the first enrolment creates it)."""
    from core.errors import CollectionNotFound

    try:
        return services.faces.faces_by_external_id(services.settings.collection)
    except CollectionNotFound:
        return {}


def _form(at) -> int:
    """The enrolment form's generation (its widgets' key suffix; it goes up after a success)."""
    return at.session_state["enrol_form"] if "enrol_form" in at.session_state else 0  # noqa: SIM401 (no .get)


def _enrol_via_page(at, name: str, files: list[tuple[str, bytes]]):
    """Type the name, choose the files, press Enrol — found as a user finds them (the name
    field, the file chooser), so the test reads the same whatever the widget keys."""
    next(t for t in at.text_input if t.label.startswith("名前")).input(name)
    at.file_uploader[0].set_value([(f, d, "image/jpeg") for f, d in files])
    at.button(key="enrol_button").click().run()
    assert not at.exception, at.exception
    return at


def test_enrol_from_several_uploads_reports_each_image_and_clears_the_form(app, labelled, services):
    open_page(app, "people")
    assert "まだ誰も登録されていません。" in texts(app)
    _enrol_via_page(
        app,
        "Amy Farrah",
        [
            ("amy1.jpg", jpeg(labelled["amy"][0])),
            ("amy2.jpg", jpeg(labelled["amy"][1])),
            ("wall.jpg", blank_jpeg()),
            ("broken.jpg", b"not an image"),
        ],
    )
    seen = texts(app)
    assert "Amy Farrah: 2 / 4 枚を登録しました" in seen
    assert "✅ amy1.jpg: 登録しました" in seen and "✅ amy2.jpg: 登録しました" in seen
    assert "❌ wall.jpg: 登録できませんでした — 顔が見つかりません" in seen
    assert "❌ broken.jpg: 登録できませんでした — 画像を読み込めませんでした" in seen
    # The list shows the person with a thumbnail, two faces and today's date.
    assert "**Amy Farrah**" in seen
    assert any("顔 2 件 · 登録 20" in c.value for c in app.caption)
    assert inline_images(app) and not app.image  # inline only: no /media URL for a face
    assert len(services.faces.faces_by_external_id(services.settings.collection)["Amy_Farrah"]) == 2
    # §6: the form is empty again for the next person.
    n = _form(app)
    assert n == 1 and app.text_input(key=f"enrol_name_{n}").value == ""
    assert not app.file_uploader(key=f"enrol_uploads_{n}").value


def test_enrol_from_camera_then_identify(app, labelled):
    open_page(app, "people")
    app.text_input(key="enrol_name_0").input("penny")
    app.camera_input(key="enrol_shot_0").set_value(("image.jpg", jpeg(labelled["penny"][0]), "image/jpeg"))
    app.button(key="enrol_button").click().run()
    assert "✅ camera.jpg: 登録しました" in texts(app)
    open_page(app, "camera")
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["penny"][2]), "image/jpeg")).run()
    assert "✅ penny さん" in texts(app)


def test_bad_name_and_missing_photo_are_explained(app, labelled):
    open_page(app, "people")
    _enrol_via_page(app, "あ" * 65, [("a.jpg", jpeg(labelled["amy"][0]))])
    assert "この名前は使えません。1〜64 文字で" in texts(app)
    app.text_input(key="enrol_name_0").input("Taro")
    app.file_uploader(key="enrol_uploads_0").set_value(None)
    app.button(key="enrol_button").click().run()
    assert "写真を撮るか選んでください。" in texts(app)


def test_japanese_names_are_display_names_beside_a_safe_id(app, labelled, services):
    """§12: 「山田 太郎」 is accepted; Rekognition's ExternalImageId (the logs' Person) is an
    opaque id, and the name is shown everywhere a name is shown."""
    open_page(app, "people")
    _enrol_via_page(app, "山田 太郎", [("a.jpg", jpeg(labelled["amy"][0])), ("b.jpg", jpeg(labelled["amy"][1]))])
    assert "山田 太郎: 2 / 2 枚を登録しました" in texts(app)
    ids = list(services.faces.faces_by_external_id(services.settings.collection))
    assert len(ids) == 1 and re.fullmatch(r"p-[0-9a-f]{10}", ids[0])
    seen = texts(app)
    assert "**山田 太郎**" in seen and f"ID（ログと Web API の Person）: `{ids[0]}`" in seen
    open_page(app, "camera")
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["amy"][4]), "image/jpeg")).run()
    seen = texts(app)
    assert "✅ 山田 太郎 さん" in seen and "ドアが開きました — 山田 太郎 さん" in seen
    assert set(services.events.query("auth")["Person"]) == {ids[0]}  # the course's field keeps the id
    # Renaming changes only the display name: same id, same faces, no re-indexing.
    open_page(app, "people")
    app.text_input(key=f"rename_to__{ids[0]}").input("山田 花子")
    app.button(key=f"rename__{ids[0]}").click().run()
    assert "山田 太郎 を 山田 花子 に変更しました。" in texts(app)
    assert list(services.faces.faces_by_external_id(services.settings.collection)) == ids
    open_page(app, "history")
    assert "顔 1: **山田 花子** · " in texts(app)


def test_after_deleting_a_person_the_next_card_is_not_armed(app, enrol):
    """§1: the next card must not inherit the deleted person's typed name, ticked box or armed
    button (found by what the user sees, so this test reads the same on any widget keys)."""
    enrol("howard", n=1)
    enrol("leonard", n=1)
    enrol("penny", n=1)
    open_page(app, "people")
    rename = next(t for t in app.text_input if t.value == "howard")
    rename.input("Howard W")
    next(c for c in app.checkbox if "howard" in c.label).check()
    app.run()
    armed = [b for b in app.button if b.label == "この人を削除" and not b.disabled]
    assert len(armed) == 1
    armed[0].click().run()
    assert "howard を削除しました" in texts(app)
    assert not any(c.value for c in app.checkbox), [c.label for c in app.checkbox if c.value]
    assert all(b.disabled for b in app.button if b.label == "この人を削除")
    assert not any(t.value in ("Howard W", "howard") for t in app.text_input)
    assert sorted(t.value for t in app.text_input if t.value) == ["leonard", "penny"]


def test_a_group_photo_asks_which_face(app, faces_dir, services):
    """§6: a 6-face group photo does not enrol the largest face silently: the admin picks one,
    and only that face (cut out) is kept."""
    open_page(app, "people")
    _enrol_via_page(app, "Someone", [("group.jpg", (faces_dir / "groups" / "bbt1.jpg").read_bytes())])
    seen = texts(app)
    assert re.search(r"この写真には \d+ 人の顔があります。登録する顔の番号を選んでください。", seen)
    assert "登録しました" not in seen
    assert "Someone" not in _enrolled(services)
    app.segmented_control(key="enrol_pick_0_0").set_value(1).run()
    app.button(key="enrol_reviewed").click().run()
    assert "Someone: 1 / 1 枚を登録しました" in texts(app)
    faces = services.faces.faces_by_external_id(services.settings.collection)["Someone"]
    assert len(faces) == 1


def test_a_face_of_someone_else_and_a_duplicate_are_caught_before_enrolling(app, enrol, labelled, services):
    """§6: amy's face under another name, and the same photo twice, are warned about and left
    out unless the admin says otherwise."""
    enrol("amy", n=2)
    open_page(app, "people")
    photo = jpeg(labelled["amy"][3])
    _enrol_via_page(app, "Bob", [("a.jpg", photo), ("b.jpg", photo)])
    seen = texts(app)
    assert re.search(r"この顔は既に \*\*amy\*\* さんとして登録されている人に一致します（類似度 \d+\.\d%）", seen)
    assert "同じ写真が既にあります（a.jpg）。" in seen
    app.button(key="enrol_reviewed").click().run()
    seen = texts(app)
    assert "Bob: 0 / 2 枚を登録しました" in seen and "⏭️ a.jpg: 登録しませんでした" in seen
    assert "Bob" not in _enrolled(services)


def test_photos_of_two_people_under_one_name_are_warned_about(app, labelled, services):
    """§6: four photos of two different people under one name."""
    open_page(app, "people")
    files = [(f"amy{i}.jpg", jpeg(labelled["amy"][i])) for i in range(2)]
    files += [(f"howard{i}.jpg", jpeg(labelled["howard"][i])) for i in range(2)]
    _enrol_via_page(app, "Mixed", files)
    warnings = [w.value for w in app.warning]
    assert sum("写真 1 の顔と似ていません" in w for w in warnings) == 2, warnings
    # Enrol only what looks like one person: amy's two photos.
    app.button(key="enrol_reviewed").click().run()
    assert "Mixed: 2 / 4 枚を登録しました" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["Mixed"]) == 2


def test_rename_delete_face_with_undo_and_delete_person(app, enrol, services):
    enrol("leonard", n=2)
    enrol("howard", n=1)
    open_page(app, "people")
    app.text_input(key="rename_to__leonard").input("Leonard H")
    app.button(key="rename__leonard").click().run()
    assert "leonard を Leonard H に変更しました。" in texts(app)
    faces = services.faces.faces_by_external_id(services.settings.collection)
    assert set(faces) == {"howard", "leonard"} and len(faces["leonard"]) == 2  # the id stays
    # Deleting a face says what is lost first; then it can be undone.
    face_id = faces["howard"][0]["FaceId"]
    app.button(key=f"delete_face_{face_id}").click().run()
    assert "これは howard さんの唯一の顔です。削除すると howard さんは特定されなくなります。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["howard"]) == 1
    app.button(key=f"delete_face_sure_{face_id}").click().run()
    assert "顔を 1 件削除しました。" in texts(app)
    assert "howard" not in services.faces.faces_by_external_id(services.settings.collection)
    app.button(key="people_undo_button").click().run()
    assert "howard さんの顔を元に戻しました。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["howard"]) == 1
    # Deleting a person needs the confirmation tick; then vectors and photos are gone.
    assert app.button(key="delete_person__howard").disabled
    app.checkbox(key="confirm_delete__howard").check().run()
    app.button(key="delete_person__howard").click().run()
    assert "howard を削除しました" in texts(app)
    assert "howard" not in services.faces.faces_by_external_id(services.settings.collection)
    assert services.objects.list_objects(services.settings.faces_bucket, "people/howard/") == []


def test_english_people_page(app, enrol):
    enrol("amy", n=1)
    app.segmented_control(key="lang").set_value("en").run()
    open_page(app, "people")
    seen = texts(app)
    assert "Enrolled people" in seen and "**amy**" in seen
    assert any("1 face(s) · enrolled 20" in c.value for c in app.caption)
