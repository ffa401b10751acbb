"""The logs page (AppTest): state, the test-message form, the tail and the error list, with and
without the local broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import settle, wait_for

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "tests" / "app" / "router_entry.py"


def _texts(at) -> str:
    parts = []
    for kind in ("title", "markdown", "caption", "success", "info", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def _open_logs(token=None, lang="en"):
    """The logs page through the router; ``token`` signs the browser in (None = a viewer)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ENTRY), default_timeout=90)
    at.session_state["lang"] = lang
    if token:
        at.session_state["facegate_session"] = token
    at.run()
    assert not at.exception, at.exception
    at.switch_page(str(ROOT / "pages" / "logs.py")).run()
    assert not at.exception, at.exception
    return at


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _close_cached_services():
    """The app caches its services per process: close the MQTT publisher this test's settings
    made (its thread would otherwise keep reconnecting to the stopped broker), then forget it."""
    from core.bootstrap import close_shared_services

    close_shared_services()


def test_logs_page_without_a_broker_stores_test_messages_directly(settings, services, admin):
    at = _open_logs(admin.token)
    metrics = _metrics(at)
    assert metrics["Outbox (not yet sent)"] == "0" and "stored directly" in metrics["Broker connection"]
    assert "local MQTT broker is not running" in _texts(at)
    record = {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:00Z", "Person": "Taro_Yamada"}
    at.text_input(key="logs_test_topic").set_value("handson/doorOpenLogData")
    at.text_area(key="logs_test_payload").set_value(json.dumps(record))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "Published" in _texts(at)
    stored = services.events.query("door")
    assert stored.iloc[0]["Person"] == "Taro_Yamada"
    # Bad input: a clear message and nothing stored.
    at.text_area(key="logs_test_payload").set_value("{not json")
    at.button[0].click().run()
    assert "not JSON" in _texts(at) and len(services.events.query("door")) == 1


def test_a_viewer_sees_sensor_logs_only_and_cannot_publish_test_messages(settings, services, admin):
    from core.events.records import auth_log_records, sensor_record, utc_now

    now = utc_now()
    for record in auth_log_records("id001", now, "cam_1.jpg", [{"Face": {"ExternalImageId": "Hanako_Sato"}}]):
        services.publisher.publish("auth", record)
    services.publisher.publish("sensor", sensor_record("id001", now, 17.5))
    at = _open_logs(None)  # a viewer: the browser has not signed in
    shown = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "17.5" in shown and "Hanako_Sato" not in shown  # the sensor tail, no names
    assert "for administrators" in _texts(at)
    assert not at.text_area and not at.selectbox  # no test form, no topic choice
    at = _open_logs(admin.token)
    shown = " ".join(str(df.value.to_dict()) for df in at.dataframe)
    assert "Hanako_Sato" in shown and at.text_area


@pytest.mark.broker
def test_logs_page_with_the_broker_shows_state_tail_and_errors(tele_settings, runner, monkeypatch, admin):
    stack = runner.start()
    monkeypatch.setenv("FACEGATE_MQTT_PORT", str(tele_settings.mqtt_port))
    monkeypatch.setenv("FACEGATE_PUBLISHER", "mqtt")
    try:
        at = _open_logs(admin.token)
        wait_for(lambda: "Local broker running" in _texts(at.run()), timeout=20)
        wait_for(lambda: "🟢 connected" in _metrics(at.run())["Broker connection"], timeout=20)
        at.text_input(key="logs_test_topic").set_value("handson/sensorLogData")
        at.text_area(key="logs_test_payload").set_value('{"DeviceID": "id001", "Value": "high"}')
        at.button[0].click().run()
        assert "Published" in _texts(at)
        wait_for(lambda: stack.journal.error_count() == 1)
        settle(stack)
        at.run()
        assert _metrics(at)["Rule errors"] == "1"
        tables = [df.value for df in at.dataframe]
        reasons = " ".join(str(t.to_dict()) for t in tables)
        assert "DeviceID" in reasons and "handson/sensorLogData" in reasons  # the tail and the error list

        # A topic the device may not publish to: the broker refuses it, the page says so.
        at.text_input(key="logs_test_topic").set_value("other/topic")
        at.button[0].click().run()
        wait_for(lambda: "refused by the broker" in _texts(at.run()), timeout=20)
    finally:
        _close_cached_services()
