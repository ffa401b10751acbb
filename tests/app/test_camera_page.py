"""Camera page: take or upload a photo, see the person, the analysis and the door."""

from __future__ import annotations

import re

from tests.app.conftest import blank_jpeg, jpeg, open_page, texts


def test_camera_identifies_enrolled_person_opens_door_and_logs(app, enrol, labelled, services):
    enrol("amy")
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["amy"][4]), "image/jpeg")).run()
    assert not app.exception
    seen = texts(app)
    assert "✅ amy さん" in seen
    assert re.search(r"類似度 \d+\.\d%（しきい値 80%）", seen)
    assert "ドアが開きました — amy さん" in seen
    # Every attribute the course reads has a value and its measured rate (no glasses on this photo).
    assert re.search(r"眼鏡: \*\*いいえ\*\* \(\d+%\)", seen), seen
    assert re.search(r"あごひげ: \*\*いいえ\*\* \(\d+%\)", seen)
    assert re.search(r"感情: \*\*\S+\*\* \(\d+%\)", seen) and "取得できません" not in seen
    assert "実測した正解率" in seen
    assert re.search(r"年齢: \*\*\d+〜\d+ 歳\*\*", seen)
    assert len(app.image) >= 1  # the photo with its box
    # The course's records went out with the stored photo's key.
    auth = services.events.query("auth")
    assert set(auth["Person"]) == {"amy"} and auth["AuthenticationResult"].all()
    key = auth["PictureName"].iloc[0]
    assert re.fullmatch(r"camera_\d{14}\.jpg", key)
    assert services.objects.exists(services.settings.photos_bucket, key)
    assert len(services.events.query("door")) == 1
    assert len(services.events.query("analysis")) == 1


def test_camera_unknown_person_keeps_door_closed(app, enrol, labelled, services):
    enrol("amy")
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["howard"][0]), "image/jpeg")).run()
    seen = texts(app)
    assert "❓ 人物を特定できませんでした" in seen
    assert "ドアは閉じたままです" in seen
    assert services.events.query("door").empty
    auth = services.events.query("auth")
    assert len(auth) == 1 and not auth["AuthenticationResult"].iloc[0]


def test_camera_upload_group_photo_gives_every_face_a_result(app, faces_dir):
    app.file_uploader(key="camera_upload").set_value(
        ("bbt1.jpg", (faces_dir / "groups" / "bbt1.jpg").read_bytes(), "image/jpeg")
    ).run()
    seen = texts(app)
    assert "顔 1（最大の顔・ドアを判定）" in seen
    assert "顔 2" in seen  # more than one face, each with its own card
    assert "保存: bbt1_" in seen


def test_camera_says_when_nobody_is_enrolled(viewer_app, enrol):
    import streamlit as st

    assert "まだ誰も登録されていない" in texts(viewer_app)
    enrol("amy", n=1)
    st.cache_data.clear()  # the page asks again after at most 5 s
    assert "まだ誰も登録されていない" not in texts(viewer_app.run())


def test_camera_no_face_says_what_to_do(app, services):
    app.file_uploader(key="camera_upload").set_value(("wall.jpg", blank_jpeg(), "image/jpeg")).run()
    assert "顔が見つかりませんでした。カメラに近づき、明るい場所で撮り直してください。" in texts(app)
    # Nothing stored or logged for a photo without a face.
    assert services.objects.list_objects(services.settings.photos_bucket) == []
    assert services.events.query("auth").empty


def test_camera_broken_file_is_a_clear_error(app):
    app.file_uploader(key="camera_upload").set_value(("x.jpg", b"\xff\xd8 not really a jpeg", "image/jpeg")).run()
    assert "画像を読み込めませんでした。JPEG か PNG の写真を使ってください。" in texts(app)


def test_switching_to_english_translates_the_result(app, enrol, labelled):
    enrol("penny")
    app.segmented_control(key="lang").set_value("en").run()
    assert [t.value for t in app.title] == ["Camera"]
    app.camera_input(key="camera_shot").set_value(("image.jpg", jpeg(labelled["penny"][3]), "image/jpeg")).run()
    seen = texts(app)
    assert "✅ penny" in seen and "Door opened for penny" in seen
    assert re.search(r"Eyeglasses: \*\*no\*\* \(\d+%\)", seen), seen
    assert re.search(r"Gaze: \*\*(at the camera|away \(sideways [+-]\d+°, up [+-]\d+°\))\*\*", seen)
    # The choice holds on other pages.
    open_page(app, "people")
    assert [t.value for t in app.title] == ["People"]


def test_camera_too_large_file_names_the_limit(app, services):
    big = b"\xff\xd8\xff\xe0" + b"\0" * (40 * 1024 * 1024 + 1)
    app.file_uploader(key="camera_upload").set_value(("huge.jpg", big, "image/jpeg")).run()
    assert "画像が大きすぎます" in texts(app)
    assert services.objects.list_objects(services.settings.photos_bucket) == []


def _gallery_photo(face_png, side=(4000, 3000)) -> bytes:
    """A 12 MP phone-gallery JPEG of ~7 MB: the face on a grainy background (sensor noise is
    what makes real ones that large)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    canvas = Image.fromarray(rng.integers(90, 170, (side[1], side[0], 3), dtype=np.uint8))
    face = Image.open(face_png).convert("RGB").resize((1500, 1500))
    canvas.paste(face, (1250, 700))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_a_12_megapixel_gallery_photo_is_shrunk_and_identified(app, enrol, labelled, services):
    """Issue 17 §11: a typical 12 MP / 7 MB gallery photo is identified, not refused."""
    enrol("amy")
    big = _gallery_photo(labelled["amy"][4])
    assert len(big) > 6 * 1024 * 1024
    app.file_uploader(key="camera_upload").set_value(("IMG_0001.jpg", big, "image/jpeg")).run()
    seen = texts(app)
    assert not app.exception, app.exception
    assert "✅ amy さん" in seen and "大きすぎます" not in seen
    # What was stored and sent to identification is within Rekognition's limits.
    key = services.events.query("auth")["PictureName"].iloc[0]
    stored = services.objects.get_object(services.settings.photos_bucket, key)
    from core.images.codec import MAX_IMAGE_BYTES, decode_image

    assert len(stored) <= MAX_IMAGE_BYTES and max(decode_image(stored).rgb.shape[:2]) == 1920


def test_clear_photo_clears_the_result(app, enrol, labelled):
    """Issue 17 §7: on a shared phone the next person must not see the previous result."""
    enrol("amy")
    shot = app.camera_input(key="camera_shot")
    shot.set_value(("image.jpg", jpeg(labelled["amy"][4]), "image/jpeg")).run()
    assert "✅ amy さん" in texts(app)
    app.camera_input(key="camera_shot").set_value(None).run()
    seen = texts(app)
    assert "amy" not in seen and "ドアが開きました" not in seen


def test_below_the_threshold_an_admin_sees_the_closest_person_and_adds_the_face(
    settings, admin, enrol, labelled, services, monkeypatch
):
    """Issue 17 §9: "could not identify" tells an admin who it was closest to, and one tap adds
    the photo to that person; a viewer sees no name."""
    from tests.app.conftest import _start

    monkeypatch.setenv("FACEGATE_MATCH_THRESHOLD", "99.9")
    enrol("amy")
    photo = ("image.jpg", jpeg(labelled["amy"][4]), "image/jpeg")
    viewer = _start(None)
    viewer.camera_input(key="camera_shot").set_value(photo).run()
    seen = texts(viewer)
    assert "❓ 人物を特定できませんでした" in seen and "amy" not in seen and not viewer.exception

    at = _start(admin.token)
    at.camera_input(key="camera_shot").set_value(photo).run()
    seen = texts(at)
    assert "❓ 人物を特定できませんでした" in seen
    assert re.search(r"いちばん近い登録者: \*\*amy\*\*（類似度 \d+\.\d%、しきい値 100% 未満）", seen), seen
    button = next(b for b in at.button if b.label == "この顔を amy さんに追加")
    button.click().run()
    assert "この顔を amy さんとして登録しました。次からは特定されます。" in texts(at)
    faces = services.faces.faces_by_external_id(services.settings.collection)["amy"]
    assert len(faces) == 4
