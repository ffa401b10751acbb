"""People, history corrections and retention over the fakes: what is stored, renamed,
corrected, purged and forgotten, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import ResourceAlreadyExists, ResourceNotFound
from core.usecases import history, people, retention
from core.usecases.capture import capture_photo
from tests.fakes import face_of, photo


def test_enrol_keeps_photo_thumbnail_and_record_and_reports_each_image(svc):
    outcomes = people.enrol_person(
        svc, "Taro Yamada", [("a.jpg", face_of("amy")), ("b.jpg", b"junk"), ("c.jpg", photo([]))]
    )
    assert [o.indexed for o in outcomes] == [True, False, False]
    assert outcomes[1].error is not None and outcomes[2].reasons == ["NO_FACE"]
    (person,) = people.list_people(svc)
    assert person.name == "Taro_Yamada" and person.display_name == "Taro Yamada"
    assert person.face_count == 1 and person.thumb_key
    keys = [o.key for o in svc.objects.list_objects(svc.settings.faces_bucket, "people/Taro_Yamada/")]
    # photo, thumbnail, enrolment record, and the profile (the name says more than the id)
    assert sorted(k.rsplit(".", 1)[-1] for k in keys) == ["jpg", "jpg", "json", "json"]


def test_rename_changes_the_display_name_only(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy")), ("b.jpg", face_of("amy", side=60))])
    ids = set(people.get_person(svc, "amy").face_ids)
    renamed = people.rename_person(svc, "amy", "Amy F")
    assert renamed.name == "amy" and renamed.display_name == "Amy F" and set(renamed.face_ids) == ids
    assert [p.display_name for p in people.list_people(svc)] == ["Amy F"]


def test_rename_refuses_a_name_someone_else_has(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    people.enrol_person(svc, "penny", [("p.jpg", face_of("penny"))])
    with pytest.raises(ResourceAlreadyExists):
        people.rename_person(svc, "amy", "PENNY")  # names are compared without case
    with pytest.raises(people.InvalidPersonName):
        people.rename_person(svc, "amy", "   ")
    assert people.get_person(svc, "amy").display_name == "amy"


def test_corrections_enrol_the_face_and_are_noted(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    unknown = capture_photo(svc, face_of("penny"), "cam.jpg")
    outcome = history.enrol_as_new_person(svc, unknown.capture_id, "Penny")
    assert outcome.indexed
    assert capture_photo(svc, face_of("penny"), "again.jpg").person == "Penny"
    (note,) = history.get_capture(svc, unknown.capture_id).corrections
    assert note["action"] == "new_person" and note["person"] == "Penny"
    wrong = capture_photo(svc, face_of("amy"), "cam.jpg")
    assert history.mark_wrong_match(svc, wrong.capture_id) == {
        "person": "amy",
        "face_id": wrong.largest.face_id,
        "deleted": True,
    }
    assert capture_photo(svc, face_of("amy"), "after.jpg").person is None


def test_delete_person_removes_vectors_photos_captures_and_log_records(svc):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy")), ("b.jpg", face_of("amy", side=60))])
    people.enrol_person(svc, "penny", [("p.jpg", face_of("penny"))])
    mine = capture_photo(svc, face_of("amy"), "cam.jpg")
    other = capture_photo(svc, face_of("penny"), "cam.jpg")
    counts = retention.delete_person(svc, "amy")
    # one auth record per matching face (amy has two) and the door opening
    assert counts == {"faces": 2, "objects": 6, "captures": 1, "log_records": 3}
    assert "amy" not in set(svc.events.query("auth")["Person"]) | set(svc.events.query("door")["Person"])
    assert "penny" in set(svc.events.query("door")["Person"])
    assert not svc.objects.exists(svc.settings.photos_bucket, mine.picture_name)
    assert svc.objects.exists(svc.settings.photos_bucket, other.picture_name)
    with pytest.raises(ResourceNotFound):
        retention.delete_person(svc, "amy")


def test_retention_deletes_old_captures_by_outcome(svc, clock):
    people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))])
    then = clock.now
    known = capture_photo(svc, face_of("amy"), "k.jpg", when=then)
    unknown = capture_photo(svc, face_of("penny"), "u.jpg", when=then)
    # Defaults: identified captures are kept 168 h, unknown ones 8 h.
    assert history.purge_expired(svc, then + timedelta(hours=10)) == 1
    assert [c.capture_id for c in history.list_captures(svc)] == [known.capture_id]
    assert not svc.objects.exists(svc.settings.photos_bucket, unknown.picture_name)
    assert history.purge_expired(svc, then + timedelta(hours=169)) == 1


def test_purge_removes_unexplained_photos_after_the_unknown_retention(svc, clock):
    bucket = svc.settings.photos_bucket
    svc.objects.put_object(bucket, "device_20260301090000.jpg", face_of("amy"), "image/jpeg")
    kept = capture_photo(svc, face_of("penny"), "cam.jpg", when=clock.now)
    clock.now += timedelta(hours=9)
    report = retention.purge(svc, clock.now)
    assert report.orphans == 1 and report.captures == 1
    assert not svc.objects.exists(bucket, kept.picture_name) and svc.objects.list_objects(bucket) == []


def test_a_viewer_can_do_none_of_it(settings):
    from core.access.sessions import AdminRequired, acting_as
    from tests.fakes import fake_services

    svc = fake_services(settings)
    with acting_as(None):
        for call in (
            lambda: people.enrol_person(svc, "amy", [("a.jpg", face_of("amy"))]),
            lambda: people.list_people(svc),
            lambda: history.list_captures(svc),
            lambda: retention.purge(svc),
            lambda: retention.forget_person(svc, "amy"),
        ):
            with pytest.raises(AdminRequired):
                call()
    assert capture_photo(svc, face_of("amy"), "cam.jpg").person is None  # the camera is a viewer's
    assert svc.faces.collections  # ... and creates the collection it needs


def test_person_names_follow_external_image_id_rules():
    assert people.person_key(" Taro Yamada ") == "Taro_Yamada"
    for bad in ("", "..", "山田", "a/b"):
        with pytest.raises(people.InvalidPersonName):
            people.person_key(bad)
