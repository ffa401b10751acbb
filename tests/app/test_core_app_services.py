"""Core services behind the app: edge cases the pages rely on (both worlds share this code)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ResourceAlreadyExists, ServiceUnavailable
from core.events.port import EventPublisher
from core.usecases import history, people, retention
from core.usecases.capture import capture_photo, photo_key
from tests.app.conftest import jpeg


def test_photo_key_is_the_course_layout():
    when = datetime(2019, 8, 8, 18, 12, 0, tzinfo=UTC)
    assert photo_key("image01", when) == "image01_20190808181200.jpg"
    assert photo_key("../evil name", when) == "evilname_20190808181200.jpg"
    assert photo_key("", when) == "image_20190808181200.jpg"


def test_person_names_follow_external_image_id_rules():
    assert people.person_key(" Taro Yamada ") == "Taro_Yamada"
    for bad in ("", "..", "山田", "a/b"):
        with pytest.raises(people.InvalidPersonName):
            people.person_key(bad)


def test_same_second_captures_keep_both_photos(services, enrol, labelled):
    enrol("amy", n=1)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    a = capture_photo(services, jpeg(labelled["amy"][1]), "cam.jpg", when=when)
    b = capture_photo(services, jpeg(labelled["amy"][2]), "cam.jpg", when=when)
    assert a.picture_name == "cam_20260102030405.jpg" and b.picture_name == "cam-2_20260102030405.jpg"


class _BrokenPublisher(EventPublisher):
    def publish(self, kind, payload):
        raise ServiceUnavailable("broker down")


def test_publish_failure_keeps_the_capture_and_says_so(services, enrol, labelled):
    enrol("amy", n=1)
    services.publisher = _BrokenPublisher()
    result = capture_photo(services, jpeg(labelled["amy"][3]), "cam.jpg")
    assert result.person == "amy" and isinstance(result.publish_error, ServiceUnavailable)
    assert history.get_capture(services, result.capture_id).person == "amy"


def test_delete_person_removes_vectors_photos_and_their_captures(services, enrol, labelled):
    enrol("amy", n=2)
    enrol("penny", n=1)
    mine = capture_photo(services, jpeg(labelled["amy"][4]), "cam.jpg")
    other = capture_photo(services, jpeg(labelled["penny"][3]), "cam.jpg")
    counts = retention.delete_person(services, "amy")
    # log records: one auth record per matching face (amy has two) and the door opening
    assert counts == {"faces": 2, "objects": 6, "captures": 1, "log_records": 3}
    assert "amy" not in set(services.events.query("auth")["Person"]) | set(services.events.query("door")["Person"])
    assert "penny" in set(services.events.query("door")["Person"])
    bucket = services.settings.photos_bucket
    assert not services.objects.exists(bucket, mine.picture_name)
    assert services.objects.exists(bucket, other.picture_name)
    assert services.objects.list_objects(services.settings.faces_bucket, "people/amy/") == []


def test_rename_changes_the_display_name_only_and_refuses_taken_names(services, enrol, labelled):
    enrol("amy", n=1)
    enrol("penny", n=1)
    with pytest.raises(ResourceAlreadyExists):
        people.rename_person(services, "amy", "Penny")  # another person's name, in any case
    # A face indexed outside the app (no stored photo) does not stop a rename any more: the id,
    # which Rekognition cannot change, stays; only the name people read changes.
    services.faces.index_faces(
        CollectionId=services.settings.collection,
        Image={"Bytes": jpeg(labelled["amy"][1])},
        ExternalImageId="amy",
        MaxFaces=1,
    )
    renamed = people.rename_person(services, "amy", " エイミー  ファラ ")
    assert (renamed.name, renamed.display_name) == ("amy", "エイミー ファラ")
    assert len(people.get_person(services, "amy").face_ids) == 2
    assert people.display_names(services, ["amy", "penny"]) == {"amy": "エイミー ファラ", "penny": "penny"}


def test_display_names_and_ids():
    assert people.new_person_id("Taro Yamada") == "Taro_Yamada"  # the course's example keeps its id
    assert re.fullmatch(r"p-[0-9a-f]{10}", people.new_person_id("山田 太郎"))
    assert people.clean_display_name("  山田\u3000 太郎 ") == "山田 太郎"
    for bad in ("", "   ", "a\x07b", "x" * 65):
        with pytest.raises(people.InvalidPersonName):
            people.clean_display_name(bad)


def test_retention_deletes_old_captures_by_outcome(services, enrol, labelled):
    enrol("amy", n=1)
    now = datetime.now(UTC)
    known = capture_photo(services, jpeg(labelled["amy"][2]), "k.jpg", when=now - timedelta(hours=10))
    unknown = capture_photo(services, jpeg(labelled["howard"][0]), "u.jpg", when=now - timedelta(hours=10))
    # Defaults: identified captures are kept 168 h, unknown ones 8 h.
    assert history.purge_expired(services, now) == 1
    assert [c.capture_id for c in history.list_captures(services)] == [known.capture_id]
    assert not services.objects.exists(services.settings.photos_bucket, unknown.picture_name)


def test_certificate_and_qr(tmp_path):
    from cryptography import x509

    from core.app.lan import ensure_certificate, lan_ip, qr_png

    cert, key = ensure_certificate(tmp_path)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    san = (
        x509.load_pem_x509_certificate(cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert {"127.0.0.1", lan_ip()} <= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    first = cert.read_bytes()
    assert ensure_certificate(tmp_path)[0].read_bytes() == first  # reused, not regenerated
    assert qr_png("https://192.0.2.1:8501/").startswith(b"\x89PNG")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", lan_ip())


def test_warm_up_builds_what_the_first_page_then_uses(settings, monkeypatch):
    """``python -m core app run`` warms up beside the server's start: the services a page then
    gets are the same object, face models loaded. The analytics copy is not
    loaded then (a camera-only app never holds it: issue 15's memory target) but when an admin
    signs in (``warm_columnar``, once per process)."""
    import core.bootstrap
    from core.usecases.warmup import warm_up
    from pages import _shared

    built = []
    real = core.bootstrap.build_services
    monkeypatch.setattr(core.bootstrap, "build_services", lambda s: built.append(s) or real(s))
    monkeypatch.setattr(_shared, "get_settings", lambda: settings)
    core.bootstrap.close_shared_services()
    try:
        warmed = warm_up(settings)
        services = _shared.get_services()
        assert len(built) == 1 and services is warmed is _shared.get_services()
        assert services.faces._engine is not None
        assert services.events._columnar is None
        thread = services.events.warm_columnar()
        assert services.events.warm_columnar() is thread  # once
        thread.join(timeout=60)
        assert services.events._columnar is not None
    finally:
        core.bootstrap.close_shared_services()


def test_the_app_start_holds_no_analytics_copy_nor_duckdb(tmp_path):
    """Issue 15's memory target: an app that only identifies faces does not hold the analytics
    copy or DuckDB (~50 MB); they load when an admin signs in (``warm_columnar``)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; from core.config import load_settings; from core.usecases.warmup import warm_up; "
        "s = warm_up(load_settings()); import pages.camera; "
        "print(sorted(m for m in ('duckdb', 'core.events.columnar') if m in sys.modules), s.events._columnar)"
    )
    env = dict(os.environ, FACEGATE_DATA_DIR=str(tmp_path), FACEGATE_SECRETS_FILE=str(tmp_path / "none.toml"))
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[] None"
