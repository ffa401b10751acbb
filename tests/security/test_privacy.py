"""Biometric privacy: forgetting a person everywhere (vectors gone from disk too), retention
by outcome, the periodic purger, the camera page's notice, no face image in the logs, and
owner-only files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.access import sessions
from core.errors import ResourceNotFound
from core.storage import permissions
from core.usecases import history, people, retention
from core.usecases.capture import capture_photo
from tests.app.conftest import ROOT, _start, jpeg, texts


def _vector_bytes(services, face_id: str) -> bytes:
    _face, vec = services.faces.store.get_face(services.settings.collection, face_id)
    return np.asarray(vec, dtype=np.float32).tobytes()


def _disk_holds(settings, needle: bytes) -> list[str]:
    return [str(p) for p in Path(settings.data_dir).rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_forget_person_erases_vectors_photos_thumbnails_and_captures_everywhere(settings, services, labelled, admin):
    amy = labelled["amy"]
    people.enrol_person(services, "amy", [("a1.jpg", jpeg(amy[0])), ("a2.jpg", jpeg(amy[1]))])
    people.enrol_person(services, "howard", [("h.jpg", jpeg(labelled["howard"][0]))])
    # amy also sits in a second collection (indexed outside the app: no stored photo).
    services.faces.create_collection(CollectionId="lobby")
    services.faces.index_faces(CollectionId="lobby", Image={"Bytes": jpeg(amy[2])}, ExternalImageId="amy")
    seen = capture_photo(services, jpeg(amy[3]), "door.jpg")
    assert seen.person == "amy"
    other = capture_photo(services, jpeg(labelled["howard"][1]), "door.jpg")
    # An unknown face that an admin then added to amy ("this is amy"): its capture names amy
    # only in the corrections, and must go too.
    stranger = capture_photo(
        services, jpeg(labelled["penny"][0]), "cam.jpg", when=datetime.now(UTC) - timedelta(minutes=1)
    )
    assert stranger.person is None
    assert history.correct_as_person(services, stranger.capture_id, "amy").indexed
    vectors = [_vector_bytes(services, f) for f in people.get_person(services, "amy").face_ids]
    assert all(_disk_holds(services.settings, v[:64]) for v in vectors)

    counts = retention.forget_person(services, "amy")

    assert counts["collections"] == 2 and counts["faces"] >= 4 and counts["captures"] >= 2
    for cid in (settings.collection, "lobby"):
        assert "amy" not in services.faces.faces_by_external_id(cid)
    assert services.objects.list_objects(settings.faces_bucket, "people/amy/") == []
    assert not [
        c
        for c in history.list_captures(services, limit=1000)
        if "amy" in {f.person for f in c.faces} | {x.get("person") for x in c.corrections}
    ]
    for key in (seen.picture_name, f"thumbs/{seen.picture_name}", stranger.picture_name):
        assert not services.objects.exists(settings.photos_bucket, key)
    # Not even the freed database pages or the WAL still hold the face vectors.
    assert not [f for v in vectors for f in _disk_holds(services.settings, v[:64])]
    # Someone else is untouched.
    assert people.get_person(services, "howard").face_count == 1
    assert services.objects.exists(settings.photos_bucket, other.picture_name)
    with pytest.raises(ResourceNotFound):
        retention.forget_person(services, "amy")


def test_deleting_from_the_people_page_path_is_the_same_erasure(settings, services, labelled, admin):
    people.enrol_person(services, "penny", [("p.jpg", jpeg(labelled["penny"][0]))])
    services.faces.create_collection(CollectionId="lobby")
    services.faces.index_faces(
        CollectionId="lobby", Image={"Bytes": jpeg(labelled["penny"][1])}, ExternalImageId="penny"
    )
    retention.delete_person(services, "penny")
    assert "penny" not in services.faces.faces_by_external_id("lobby")


def test_retention_by_outcome_orphans_and_enrolment_photos(settings, services, labelled, admin):
    people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
    now = datetime.now(UTC)
    known_fresh = capture_photo(services, jpeg(labelled["amy"][1]), "k", when=now - timedelta(hours=9))
    known_old = capture_photo(services, jpeg(labelled["amy"][2]), "k", when=now - timedelta(days=8))
    unknown_old = capture_photo(services, jpeg(labelled["howard"][0]), "u", when=now - timedelta(hours=9))
    unknown_fresh = capture_photo(services, jpeg(labelled["howard"][1]), "u", when=now - timedelta(hours=1))
    assert known_fresh.person and known_old.person and not unknown_old.person
    bucket = settings.photos_bucket
    # A device's upload with no history record (the course's /search device variant).
    services.objects.put_object(bucket, "device_20200101000000.jpg", b"old jpeg")
    old = (now - timedelta(hours=9)).timestamp()
    os.utime(Path(settings.data_dir) / "objects" / bucket / "device_20200101000000.jpg", (old, old))
    services.objects.put_object(bucket, "device_20990101000000.jpg", b"fresh jpeg")

    report = retention.purge(services)

    assert (report.captures, report.orphans) == (2, 1)
    left = {c.capture_id for c in history.list_captures(services)}
    assert left == {known_fresh.capture_id, unknown_fresh.capture_id}
    for cap in (known_old, unknown_old):
        assert not services.objects.exists(bucket, cap.picture_name)
        assert not services.objects.exists(bucket, f"thumbs/{cap.picture_name}")
    assert not services.objects.exists(bucket, "device_20200101000000.jpg")
    assert services.objects.exists(bucket, "device_20990101000000.jpg")
    # Enrolment photos are kept whatever their age.
    assert len(services.objects.list_objects(settings.faces_bucket, "people/amy/")) == 3


def test_device_uploads_that_search_identified_are_kept_as_identified_captures(settings, services, admin):
    """The course's device uploads a photo (S3), asks /search, and logs the result with the
    photo's key (PictureName). Such an upload is not an unexplained file: kept 7 days when the
    log says someone was identified, 8 hours when nobody was."""
    from core.events.records import auth_log_records

    bucket, now = settings.photos_bucket, datetime.now(UTC)
    folder = Path(settings.data_dir) / "objects" / bucket
    for key in ("taro_20240101120000.jpg", "nobody_20240101120000.jpg", "unlogged_20240101120000.jpg"):
        services.objects.put_object(bucket, key, b"jpeg")
        ten_hours_ago = (now - timedelta(hours=10)).timestamp()
        os.utime(folder / key, (ten_hours_ago, ten_hours_ago))
    services.objects.put_object(bucket, "taro_old_20240101120000.jpg", b"jpeg")
    nine_days_ago = (now - timedelta(days=9)).timestamp()
    os.utime(folder / "taro_old_20240101120000.jpg", (nine_days_ago, nine_days_ago))
    when = now - timedelta(hours=10)
    records = auth_log_records("id001", when, "taro_20240101120000.jpg", [{"Face": {"ExternalImageId": "Taro"}}])
    records += auth_log_records("id001", when, "nobody_20240101120000.jpg", [])
    records += auth_log_records(
        "id001", now - timedelta(days=9), "taro_old_20240101120000.jpg", [{"Face": {"ExternalImageId": "Taro"}}]
    )
    services.events.append("auth", records, [f"r{i}" for i in range(len(records))])

    report = retention.purge(services, now)

    assert services.objects.exists(bucket, "taro_20240101120000.jpg")  # identified: 7 days
    for gone in ("nobody_20240101120000.jpg", "unlogged_20240101120000.jpg", "taro_old_20240101120000.jpg"):
        assert not services.objects.exists(bucket, gone), gone
    assert report.orphans == 3


def test_logs_older_than_the_log_retention_are_purged_locally(settings, services, admin):
    from core.events.records import analysis_log_records, auth_log_records, door_open_record, sensor_record

    now = datetime.now(UTC)
    ev = services.events

    def add(kind, records, tag, received):
        # Retention follows the time of receipt (tests/analytics/test_device_times.py).
        at_ms = [int(received.timestamp() * 1000)] * len(records)
        ev.append(kind, records, [f"{tag}-{i}" for i in range(len(records))], received=at_ms)

    # Past the 365-day cutoff but within the one-day slack: nothing is deleted yet (a deletion
    # rebuilds every process's analytics copy, so it waits until it is worth it).
    edge = now - timedelta(days=365, hours=6)
    add("auth", auth_log_records("id001", edge, "a.jpg", []), "edge", edge)
    assert retention.purge(services, now).log_records == 0
    old = now - timedelta(days=400)
    add("auth", auth_log_records("id001", old, "b.jpg", [{"Face": {"ExternalImageId": "amy"}}]), "old", old)
    add("analysis", analysis_log_records(old, [{"Gender": {"Value": "Female"}}]), "old-a", old)
    add("door", [door_open_record("id001", old, "amy")], "old-d", old)
    add("sensor", [sensor_record("id001", old, 1.0)], "old-s", old)
    new = now - timedelta(days=10)
    add("auth", auth_log_records("id001", new, "c.jpg", []), "new", new)
    logs = settings.logs_bucket
    services.objects.put_object(logs, "1000-auth-log-data.json", b'{"Person": "amy"}')
    services.objects.put_object(logs, "2000-auth-log-data.json", b'{"Person": "bo"}')
    year_ago = (now - timedelta(days=400)).timestamp()
    os.utime(services.objects._path(logs, "1000-auth-log-data.json"), (year_ago, year_ago))
    con = ev.columnar()
    assert con.execute("SELECT count(*) FROM auth").fetchone()[0] == 3
    con.close()

    report = retention.purge(services, now)

    assert (report.log_records, report.log_objects) == (4, 1)  # 2 auth, 1 analysis, 1 door; 1 object
    assert len(ev.query("auth")) == 1 and ev.query("door").empty and ev.query("analysis").empty
    assert len(ev.query("sensor")) == 1  # readings stay, as in the aws sensor table
    con = ev.columnar()
    assert con.execute("SELECT count(*) FROM auth").fetchone()[0] == 1
    con.close()
    assert [o.key for o in services.objects.list_objects(logs)] == ["2000-auth-log-data.json"]


def test_purger_runs_as_the_operator_in_the_background(settings, services, labelled):
    with sessions.operator(settings, "tests"):
        capture_photo(services, jpeg(labelled["howard"][0]), "u", when=datetime.now(UTC) - timedelta(hours=9))
    purger = retention.Purger(services, interval_s=3600).start()
    try:
        for _ in range(200):
            if purger.runs:
                break
            import time

            time.sleep(0.05)
    finally:
        purger.stop()
    assert purger.runs == 1 and purger.last.captures == 1


def test_privacy_cli_purge_and_forget(settings, services, labelled, tmp_path):
    with sessions.operator(settings, "tests"):
        people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
    env = {
        "FACEGATE_DATA_DIR": str(settings.data_dir),
        "FACEGATE_SECRETS_FILE": str(tmp_path / "none.toml"),
        "FACEGATE_PUBLISHER": "direct",
        "PATH": "/usr/bin:/bin",
    }

    def run(*argv):
        proc = subprocess.run(
            [sys.executable, "-m", "core", "privacy", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        run.stderr = proc.stderr
        return json.loads(proc.stdout)

    assert run("purge")["captures"] == 0
    forgot = run("forget-person", "amy")
    erasure = forgot.pop("erasure")
    assert forgot == {
        "forgotten": "amy",
        "faces": 1,
        "objects": 3,
        "captures": 0,
        "collections": 1,
        "log_records": 0,
    }
    # The operator is told on stdout; the log (stderr, journald...) has the erasure id only.
    assert erasure in run.stderr and "amy" not in run.stderr


def test_camera_page_shows_the_privacy_notice_in_both_languages(settings, monkeypatch):
    """Said in full (a notice box) on a browser's first visit; after that folded into
    "🔒 写真の扱い" below the camera (issue 17 §3) — still there, one tap away, in both languages.
    AppTest has no cookies, so the visit cookie is given by patching ``pages._shared.cookie``."""
    import pages._shared

    def folded(at) -> str:
        box = next(e for e in at.expander if e.label.startswith(("🔒 写真の扱い", "🔒 What happens to your photo")))
        return " ".join(str(m.value) for m in box.markdown)

    at = _start(None)  # first visit: no cookie
    assert "2 日" not in texts(at)
    notice = " ".join(str(e.value) for e in at.info)
    assert "7 日" in notice and "8 時間" in notice and "自動削除" in notice
    assert "顔画像は送られません" in texts(at) and "365 日" in texts(at)  # the details, one tap away
    at.session_state["lang"] = "en"
    at.run()
    notice = " ".join(str(e.value) for e in at.info)
    assert "after 7 days when someone is identified, 8 hours when nobody is" in notice
    assert "(who was identified, when) are kept for 365 days" in texts(at)

    seen = {"facegate_seen_camera": "1"}
    monkeypatch.setattr(pages._shared, "cookie", lambda name: seen.get(name))
    at = _start(None)  # a later visit: the notice box is gone, the same words are in the fold
    assert not any("自動削除" in str(e.value) for e in at.info)
    notice = folded(at)
    assert "7 日" in notice and "8 時間" in notice and "自動削除" in notice and "365 日" in notice
    at.session_state["lang"] = "en"
    at.run()
    notice = folded(at)
    assert "after 7 days when someone is identified, 8 hours when nobody is" in notice
    assert "(who was identified, when) are kept for 365 days" in notice


def test_no_face_image_ever_goes_into_the_logs(settings, services, labelled, admin):
    """What capture publishes (MQTT payloads, here stored by the direct publisher) carries the
    photo's key and attributes only: small records, no image bytes or base64."""
    people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
    capture_photo(services, jpeg(labelled["amy"][1]), "door.jpg")
    seen = 0
    for kind in ("auth", "analysis", "door"):
        for record in services.events.query(kind):
            text = json.dumps(record, default=str)
            assert len(text) < 2048, (kind, len(text))
            assert "/9j/" not in text and "iVBOR" not in text, kind  # base64 JPEG / PNG
            seen += 1
    assert seen >= 3
    events_dir = Path(settings.data_dir) / "events"
    for path in events_dir.rglob("*"):
        if path.is_file():
            assert b"\xff\xd8\xff" not in path.read_bytes(), path


def test_local_files_are_owner_only(settings, services, labelled, admin, api_key):
    people.enrol_person(services, "amy", [("a.jpg", jpeg(labelled["amy"][0]))])
    capture_photo(services, jpeg(labelled["amy"][1]), "door.jpg")
    sessions.access_control(settings).setup_code_file()
    assert permissions.owner_only_problems(settings.data_dir) == []
    loose = Path(settings.data_dir) / "loose.txt"
    loose.write_text("x")
    loose.chmod(0o644)
    assert permissions.owner_only_problems(settings.data_dir) == [str(loose)]
    assert permissions.make_owner_only(settings.data_dir) == 1
    assert permissions.owner_only_problems(settings.data_dir) == []
