"""People page: enrol (camera, several uploads), list, rename, delete a face, delete a person."""

from __future__ import annotations

from tests.app.conftest import blank_jpeg, inline_images, jpeg, open_page, texts


def _enrol_button(at):
    return at.button(key="enrol_button")


def test_enrol_from_several_uploads_reports_each_image(app, labelled, services):
    open_page(app, "people")
    assert "まだ誰も登録されていません。" in texts(app)
    app.text_input(key="enrol_name").input("Amy Farrah")
    app.file_uploader(key="enrol_uploads").set_value(
        [
            ("amy1.jpg", jpeg(labelled["amy"][0]), "image/jpeg"),
            ("amy2.jpg", jpeg(labelled["amy"][1]), "image/jpeg"),
            ("wall.jpg", blank_jpeg(), "image/jpeg"),
            ("broken.jpg", b"not an image", "image/jpeg"),
        ]
    )
    _enrol_button(app).click().run()
    assert not app.exception
    seen = texts(app)
    assert "Amy_Farrah: 2 / 4 枚を登録しました" in seen
    assert "✅ amy1.jpg: 登録しました" in seen and "✅ amy2.jpg: 登録しました" in seen
    assert "❌ wall.jpg: 登録できませんでした — 顔が見つかりません" in seen
    assert "❌ broken.jpg: 登録できませんでした — 画像を読み込めませんでした" in seen
    # The list shows the person with a thumbnail, two faces and today's date.
    assert "**Amy_Farrah**" in seen
    assert any("顔 2 件 · 登録 20" in c.value for c in app.caption)
    assert inline_images(app) and not app.image  # inline only: no /media URL for a face
    assert len(services.faces.faces_by_external_id(services.settings.collection)["Amy_Farrah"]) == 2


def test_enrol_from_camera_then_identify(app, labelled):
    open_page(app, "people")
    app.text_input(key="enrol_name").input("penny")
    app.camera_input(key="enrol_shot").set_value(("image.jpg", jpeg(labelled["penny"][0]), "image/jpeg"))
    _enrol_button(app).click().run()
    assert "✅ camera.jpg: 登録しました" in texts(app)
    open_page(app, "camera")
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["penny"][2]), "image/jpeg")).run()
    assert "✅ penny さん" in texts(app)


def test_bad_name_and_missing_photo_are_explained(app, labelled):
    open_page(app, "people")
    app.text_input(key="enrol_name").input("山田太郎")
    app.file_uploader(key="enrol_uploads").set_value(("a.jpg", jpeg(labelled["amy"][0]), "image/jpeg"))
    _enrol_button(app).click().run()
    assert "この名前は使えません。英数字と _ . - : で入力してください（例: Taro_Yamada）。" in texts(app)
    app.text_input(key="enrol_name").input("Taro")
    app.file_uploader(key="enrol_uploads").set_value(None)
    _enrol_button(app).click().run()
    assert "写真を撮るか選んでください。" in texts(app)


def test_rename_delete_face_and_delete_person(app, enrol, services):
    enrol("leonard", n=2)
    enrol("howard", n=1)
    open_page(app, "people")
    # People are listed by name: howard (0), leonard (1).
    app.text_input(key="rename_to_1").input("Leonard_H")
    app.button(key="rename_1").click().run()
    assert "leonard を Leonard_H に変更しました。" in texts(app)
    people = services.faces.faces_by_external_id(services.settings.collection)
    assert set(people) == {"howard", "Leonard_H"} and len(people["Leonard_H"]) == 2
    # Delete one of Leonard_H's faces.
    face_id = people["Leonard_H"][0]["FaceId"]
    app.button(key=f"delete_face_{face_id}").click().run()
    assert "顔を 1 件削除しました。" in texts(app)
    assert len(services.faces.faces_by_external_id(services.settings.collection)["Leonard_H"]) == 1
    # Deleting a person needs the confirmation tick; then vectors and photos are gone.
    assert app.button(key="delete_person_0").disabled
    app.checkbox(key="confirm_delete_0").check().run()
    app.button(key="delete_person_0").click().run()
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
