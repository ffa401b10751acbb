"""capture_photo's orchestration: store, identify every face, analyse, open, log, remember."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidImageFormat, NoFaceInImage, ServiceUnavailable
from core.usecases import history, people
from core.usecases.capture import capture_photo, photo_key
from tests.fakes import BACKGROUND, RecordingPublisher, face_of, photo

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_known_face_opens_the_door_and_is_logged_and_remembered(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    result = capture_photo(svc, face_of("amy"), "cam.jpg", when=WHEN)
    assert result.person == "amy" and result.door_opened and result.largest.similarity == 99.5
    assert result.picture_name == "cam_20260102030405.jpg"
    assert svc.objects.exists(svc.settings.photos_bucket, result.picture_name)
    assert result.published == {"auth": 1, "analysis": 1, "door": 1}
    kinds = [kind for kind, _ in svc.publisher.published]
    assert kinds == ["auth", "analysis", "door"]
    door = svc.publisher.published[-1][1]
    assert door["Person"] == "amy" and door["DeviceID"] == svc.settings.device_id
    assert history.get_capture(svc, result.capture_id).person == "amy"


def test_an_unknown_face_keeps_the_door_shut_but_is_logged(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    result = capture_photo(svc, face_of("penny"), "cam.jpg", when=WHEN)
    assert result.person is None and not result.door_opened and result.largest.searched
    assert result.published == {"auth": 1, "analysis": 1}


def test_every_face_is_searched_the_largest_decides(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    people.enrol_person(svc, "howard", [("h.jpg", face_of("howard"))])
    group = photo([("howard", (10, 10, 120)), ("amy", (200, 60, 60)), ("penny", (150, 170, 50))])
    result = capture_photo(svc, group, "group.jpg", when=WHEN)
    assert [f.person for f in result.faces] == ["howard", "amy", None]
    assert result.person == "howard" and result.faces[0].largest
    # The largest face in the whole photo (the course's call), the others in crops around them.
    assert svc.faces.calls.count("SearchFacesByImage") == 3


def test_faces_beyond_the_searched_ones_are_boxed_not_searched(svc, monkeypatch):
    import core.usecases.capture as capture

    monkeypatch.setattr(capture, "MAX_FACES_SEARCHED", 1)
    group = photo([("howard", (10, 10, 120)), ("amy", (200, 60, 60))])
    result = capture_photo(svc, group, "group.jpg", when=WHEN)
    assert [f.searched for f in result.faces] == [True, False]


def test_no_face_stores_and_publishes_nothing(svc):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 100), BACKGROUND).save(buf, format="JPEG")
    with pytest.raises(NoFaceInImage):
        capture_photo(svc, buf.getvalue(), "empty.jpg", when=WHEN)
    assert svc.objects.list_objects(svc.settings.photos_bucket) == []
    assert svc.publisher.published == []


def test_bad_bytes_are_a_domain_error(svc):
    with pytest.raises(InvalidImageFormat):
        capture_photo(svc, b"not an image", "x.jpg", when=WHEN)


def test_same_second_captures_keep_both_photos(svc):
    a = capture_photo(svc, face_of("amy"), "cam.jpg", when=WHEN)
    b = capture_photo(svc, face_of("amy"), "cam.jpg", when=WHEN)
    assert a.picture_name == "cam_20260102030405.jpg" and b.picture_name == "cam-2_20260102030405.jpg"


def test_publish_failure_keeps_the_capture_and_says_so(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    svc.publisher = RecordingPublisher(svc.events, fail_with=ServiceUnavailable("broker down"))
    result = capture_photo(svc, face_of("amy"), "cam.jpg", when=WHEN)
    assert result.person == "amy" and isinstance(result.publish_error, ServiceUnavailable)
    assert history.get_capture(svc, result.capture_id).person == "amy"


def test_png_is_stored_as_jpeg(svc):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(face_of("amy"))).save(buf, format="PNG")
    result = capture_photo(svc, buf.getvalue(), "cam.png", when=WHEN)
    stored = svc.objects.get_object(svc.settings.photos_bucket, result.picture_name)
    assert stored[:3] == b"\xff\xd8\xff" and result.picture_name == "cam_20260102030405.jpg"


def test_photo_key_is_the_course_layout():
    when = datetime(2019, 8, 8, 18, 12, 0, tzinfo=UTC)
    assert photo_key("image01", when) == "image01_20190808181200.jpg"
    assert photo_key("../evil name", when) == "evilname_20190808181200.jpg"
    assert photo_key("", when) == "image_20190808181200.jpg"
