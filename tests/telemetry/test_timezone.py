"""Time as the course's learners live it (issue 12 §4): ``FACEGATE_TIMEZONE`` reads the times
devices write without a zone, names photos as the course's device does, and the pages show
times in the viewer's zone with the zone written beside them."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from core.app.times import local_text, viewer_zone, zone_label
from core.config import load_settings
from core.events.local import LocalEventStore
from core.telemetry.ca import LocalCA
from core.usecases.capture import photo_key
from tests.analytics.test_aws_events import aws  # noqa: F401 - the moto event store fixture

from .conftest import StackRunner, free_port, settle
from .rawmqtt import RawClient, tls_context

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
# The course's auth log as its device writes it: local time (JST), no zone.
COURSE_AUTH = {
    "DeviceID": "id001",
    "Datetime": "2019-08-08 18:12:00",
    "AuthenticationResult": True,
    "PictureName": "image01_20190808181200.jpg",
    "Person": "Taro_Yamada",
}


def test_the_setting_names_a_zone_or_says_what_is_wrong(monkeypatch, tmp_path):
    from core.errors import ConfigError

    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FACEGATE_TIMEZONE", "Asia/Tokyo")
    assert load_settings().timezone == "Asia/Tokyo"
    monkeypatch.setenv("FACEGATE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="FACEGATE_TIMEZONE"):
        load_settings()


def test_times_without_a_zone_are_read_in_the_configured_zone_and_kept_as_sent(tmp_path):
    store = LocalEventStore(tmp_path / "events.db", zone=TOKYO)
    store.append("auth", [COURSE_AUTH], ["a1"])
    store.append("door", [{"DeviceID": "id001", "Datetime": "2019-08-08T09:12:30Z", "Person": "Taro_Yamada"}], ["d1"])
    auth = store.query("auth", receipts=True).iloc[0]
    assert auth["Datetime"] == datetime(2019, 8, 8, 9, 12, tzinfo=UTC)  # 18:12 in Tokyo
    assert auth["DatetimeAsSent"] == "2019-08-08 18:12:00"  # the text as the device sent it
    assert store.query("door").iloc[0]["Datetime"] == datetime(2019, 8, 8, 9, 12, 30, tzinfo=UTC)  # Z is UTC
    con = store.columnar()
    try:
        assert con.execute("SELECT ts FROM auth").fetchone()[0] == datetime(2019, 8, 8, 9, 12)
    finally:
        con.close()


def test_through_the_broker_the_stores_keep_the_text_and_the_event_store_reads_it_in_the_zone(tele_settings):
    settings = dataclasses.replace(tele_settings, timezone="Asia/Tokyo", mqtt_port=free_port())
    runner = StackRunner(settings)
    stack = runner.start()
    try:
        creds = LocalCA(stack.paths.pki).device_credentials("id001")
        client = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
        try:
            assert client.connect("id001") == 0
            assert client.publish("handson/authLogData", json.dumps(COURSE_AUTH).encode(), 1) == 0
        finally:
            client.close()
        settle(stack)
        (obj,) = [o for o in runner.objects.list_objects(settings.logs_bucket) if o.key.endswith("auth-log-data.json")]
        assert json.loads(runner.objects.get_object(settings.logs_bucket, obj.key))["Datetime"] == "2019-08-08 18:12:00"
        stored = runner.events.query("auth").iloc[0]
        assert stored["Datetime"] == datetime(2019, 8, 8, 9, 12, tzinfo=UTC)
    finally:
        runner.stop()


def test_photo_keys_use_the_devices_local_time_as_the_course_does():
    when = datetime(2019, 8, 8, 9, 12, tzinfo=UTC)
    assert photo_key("image01", when, TOKYO) == "image01_20190808181200.jpg"
    assert photo_key("image01", when) == "image01_20190808091200.jpg"  # no zone given: UTC


def test_the_apps_own_records_write_local_time_in_the_zone_they_are_read_in(tmp_path):
    from core.events.records import analysis_log_records, auth_log_records

    when = datetime(2019, 8, 8, 9, 12, tzinfo=UTC)
    auth = auth_log_records("id001", when, "p.jpg", [], TOKYO)[0]
    analysis = analysis_log_records(when, [{}], TOKYO)[0]
    assert auth["Datetime"] == analysis["Datetime"] == "2019-08-08 18:12:00"
    store = LocalEventStore(tmp_path / "events.db", zone=TOKYO)
    store.append("auth", [auth], ["a"])
    assert store.query("auth").iloc[0]["Datetime"] == when  # round trip: the same instant


def test_viewer_zone_is_the_browsers_else_the_setting():
    assert viewer_zone("America/New_York", "Asia/Tokyo") == ZoneInfo("America/New_York")
    assert viewer_zone(None, "Asia/Tokyo") == TOKYO
    assert viewer_zone("Not/AZone", "Asia/Tokyo") == TOKYO
    assert zone_label(TOKYO) == "Asia/Tokyo (UTC+09:00)"
    assert local_text(datetime(2019, 8, 8, 9, 12, tzinfo=UTC), TOKYO) == "2019-08-08 18:12:00 JST"
    # Times a device's clock can produce are shown, never raised on.
    assert local_text(datetime(9999, 12, 31, 23, 0, tzinfo=UTC), TOKYO).startswith("9999-12-31 23:00:00")
    assert local_text(datetime(1, 1, 1, 0, 30, tzinfo=UTC), ZoneInfo("America/New_York")).startswith("0001-01-01")
    assert local_text("garbage", TOKYO) == "?"


def _page(name: str, browser_zone: str) -> AppTest:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    at.session_state["lang"] = "en"
    at.context = {"timezone": browser_zone}
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "info", "markdown") for e in getattr(at, kind))


def test_logs_and_analytics_pages_show_times_in_the_browsers_zone(services):
    # A viewer's Logs page shows the sensor tail.
    services.publisher.publish("sensor", {"DeviceID": "id001", "Datetime": "2019-08-08T09:12:30Z", "Value": 1.5})
    logs = _page("logs", "America/New_York")
    assert "America/New_York (UTC-0" in _texts(logs)
    table = logs.dataframe[0].value
    assert table["Datetime"].tolist() == ["2019-08-08 05:12:30 EDT"]
    analytics = _page("analytics", "Asia/Tokyo")
    assert "Times are shown in Asia/Tokyo (UTC+09:00)." in _texts(analytics)


# -- naive stamps are read in the zone of the clock that wrote them -------------------------
def test_the_web_apis_timestamp_reads_back_as_the_moment_it_was_made(tmp_path):
    """The course's device copies ``payloads.timestamp`` into its auth and analysis logs as
    sent (no zone); the rule engine reads such times in ``FACEGATE_TIMEZONE``. So the local Web
    API stamps in that zone, as the course's handler (``datetime.now()``) does on the machine
    that serves it; a UTC stamp read in Tokyo would put every record nine hours early."""
    import base64
    import io

    from PIL import Image

    from core.bootstrap import build_services
    from core.events.columns import parse_datetime_us
    from core.web import routes
    from tests.api.conftest import world_env
    from tests.api.test_handlers import event

    settings = load_settings(env=world_env(tmp_path / "data", FACEGATE_TIMEZONE="Asia/Tokyo"))
    services = build_services(settings)
    try:
        wall = io.BytesIO()
        Image.new("RGB", (320, 240), (180, 180, 180)).save(wall, format="PNG")
        body = {"image_base64str": base64.b64encode(wall.getvalue()).decode()}
        before = datetime.now(UTC).replace(microsecond=0)
        response = routes.handle_event(event("analyze", body), services)
        after = datetime.now(UTC)
    finally:
        services.close()
    assert response["statusCode"] == 200, response["body"]
    stamp = json.loads(response["body"])["payloads"]["timestamp"]
    read = datetime.fromtimestamp(parse_datetime_us(stamp, TOKYO) / 1e6, UTC)
    assert before <= read <= after, (stamp, read, before)


def test_in_the_aws_world_the_apps_stamps_are_read_back_as_the_same_instant(tmp_path, aws):  # noqa: F811
    """In aws the course's Lambda stamps UTC (Lambda's clock) and the aws event store, Athena
    and QuickSight read zone-less times as UTC: the app's own auth and analysis logs must be
    written so, whatever ``FACEGATE_TIMEZONE`` the app runs with (it still names photos in it)."""
    from types import SimpleNamespace

    from core.usecases import capture

    local = load_settings(env={"FACEGATE_DATA_DIR": str(tmp_path), "FACEGATE_TIMEZONE": "Asia/Tokyo"})
    settings = dataclasses.replace(local, backend="aws")
    sent: list[tuple[str, dict]] = []
    services = SimpleNamespace(settings=settings, publisher=SimpleNamespace(publish=lambda k, r: sent.append((k, r))))
    when = datetime(2019, 8, 8, 9, 12, tzinfo=UTC)
    face = capture.FaceResult(box={"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1}, detail={}, largest=True)
    result = capture.CaptureResult(
        capture_id="image01",
        picture_name=capture.photo_key("image01", when, TOKYO),
        when=when,
        device_id="id001",
        threshold=80.0,
        width=640,
        height=480,
        faces=[face],
        door_opened=False,
        person=None,
    )
    capture._publish(services, result)
    assert result.picture_name == "image01_20190808181200.jpg"  # photos keep the device's local time
    assert {k for k, _ in sent} == {"auth", "analysis"}
    for i, (kind, record) in enumerate(sent):
        aws.append(kind, [record], [f"m{i}"])
    assert aws.query("auth")["Datetime"].tolist() == [when]
