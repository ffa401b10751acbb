"""Publish -> broker (mutual TLS) -> rule engine -> stores, with real awsiotsdk clients."""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.events.records import analysis_log_records, auth_log_records, door_open_record, sensor_record
from core.telemetry.ca import LocalCA
from core.telemetry.outbox import Outbox
from core.telemetry.publisher import MqttPublisher
from core.telemetry.sensor_table import LocalSensorTable

from .conftest import settle, wait_for
from .rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker

WHEN = datetime(2026, 4, 1, 9, 30, 0, tzinfo=UTC)
AUTH_KEY = re.compile(r"^\d{13}-auth-log-data\.json$")
DOOR_KEY = re.compile(r"^\d{13}-door-open-log-data\.json$")


def _device(paths, device_id="id001"):
    return LocalCA(paths.pki).device_credentials(device_id)


def _raw(stack, paths, device_id="id001", client_id=None, version=5):
    creds = _device(paths, device_id)
    client = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
    assert client.connect(client_id or device_id, version) == 0
    return client


def _objects(runner, bucket, pattern):
    return [o.key for o in runner.objects.list_objects(bucket) if pattern.match(o.key)]


def test_publish_to_stored_for_the_four_course_topics(runner, stack, make_publisher, tele_settings):
    pub = make_publisher()
    matches = [
        {"Similarity": 99.1, "Face": {"ExternalImageId": "Taro_Yamada"}},
        {"Similarity": 91.0, "Face": {"ExternalImageId": "Hanako_Sato"}},
    ]
    auth = auth_log_records("id001", WHEN, "image01_20260401093000.jpg", matches)
    door = door_open_record("id001", WHEN, "Taro_Yamada")
    sensor = sensor_record("id001", WHEN, 12.5, AccelX=0.1, AccelY=-9.8, AccelZ=0.3)
    faces = [
        {"AgeRange": {"Low": 25, "High": 35}, "Gender": {"Value": "Female"}, "Smile": {"Value": True}},
        {"AgeRange": {"Low": 40, "High": 50}, "Gender": {"Value": "Male"}, "Smile": {"Value": False}},
    ]
    analysis = analysis_log_records(WHEN, faces)
    pub.publish_many("auth", auth)
    pub.publish("door", door)
    pub.publish("sensor", sensor)
    pub.publish_many("analysis", analysis)
    assert pub.wait_drained(20), pub.status()
    settle(runner.stack)
    assert runner.events.count("analysis") == 2 and runner.events.count("auth") == 2

    bucket = tele_settings.logs_bucket
    auth_keys = _objects(runner, bucket, AUTH_KEY)
    assert len(auth_keys) == 2 and len(set(auth_keys)) == 2
    # ${timestamp()} is unique per rule, so keys sort in arrival order and never collide.
    assert [json.loads(runner.objects.get_object(bucket, k)) for k in auth_keys] == auth
    (door_key,) = _objects(runner, bucket, DOOR_KEY)
    assert json.loads(runner.objects.get_object(bucket, door_key)) == door  # byte-for-byte the course payload

    table = LocalSensorTable(runner.stack.paths.tables)
    assert table.query(tele_settings.sensor_table, "id001") == [sensor]

    # The analysis logs wait in the Firehose-like buffer (60 s) and are flushed on shutdown.
    assert not [o for o in runner.objects.list_objects(bucket, "analysis/")]
    runner.stop()
    (batch,) = runner.objects.list_objects(bucket, "analysis/")
    lines = runner.objects.get_object(bucket, batch.key).decode().splitlines()
    assert [json.loads(line) for line in lines] == analysis
    assert batch.key.startswith("analysis/2026/")

    stored = runner.events.query("door")
    assert stored.iloc[0]["Person"] == "Taro_Yamada"


def test_analysis_batches_flush_by_age(tele_settings, make_publisher):
    import dataclasses

    from .conftest import StackRunner

    settings = dataclasses.replace(tele_settings)
    r = StackRunner(settings, stream_max_age_s=0.3)
    try:
        r.start()
        pub = make_publisher()
        pub.publish_many("analysis", analysis_log_records(WHEN, [{"Smile": {"Value": True}}] * 3))
        assert pub.wait_drained(20)
        objs = wait_for(lambda: r.objects.list_objects(settings.logs_bucket, "analysis/"), timeout=10)
        data = r.objects.get_object(settings.logs_bucket, objs[0].key).decode()
        assert len(data.splitlines()) == 3 and data.endswith("\n")
    finally:
        r.stop()


def test_client_without_certificate_is_rejected(stack, paths):
    ctx = tls_context(_device(paths).ca_file)  # trusts the broker, presents no certificate
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client = RawClient(stack.port, ctx)
        try:
            client.connect("id001")
        finally:
            client.close()
    assert stack.broker.stats.received == 0 and stack.broker.state()["clients"] == []


def test_certificate_from_another_ca_is_rejected(stack, paths, tmp_path, tele_settings):
    foreign = LocalCA(tmp_path / "other-ca").create_device("id001", tmp_path / "foreign")
    ctx = tls_context(_device(paths).ca_file, foreign.cert_file, foreign.key_file)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client = RawClient(stack.port, ctx)
        try:
            client.connect("id001")
        finally:
            client.close()
    # The real SDK with that certificate never connects, and its record stays in its outbox.
    pub = MqttPublisher(
        Outbox(tmp_path / "foreign-outbox.db"),
        endpoint="127.0.0.1",
        port=stack.port,
        cert_file=foreign.cert_file,
        key_file=foreign.key_file,
        ca_file=_device(paths).ca_file,
        client_id="id001-foreign",
        prefix=tele_settings.topic_prefix,
    )
    try:
        pub.publish("door", door_open_record("id001", WHEN, "Mallory"))
        wait_for(lambda: "connect failed" in pub.status()["last_error"], timeout=15)
        status = pub.status()
        assert status["connected"] is False and status["outbox_depth"] == 1
        assert "connect failed" in status["last_error"]
    finally:
        pub.close()
    assert stack.broker.stats.received == 0


def test_client_id_must_be_the_certificate_name(stack, paths):
    creds = _device(paths)
    ctx = tls_context(creds.ca_file, creds.cert_file, creds.key_file)
    impostor = RawClient(stack.port, ctx)
    try:
        assert impostor.connect("id002") == 0x87  # not authorised
    finally:
        impostor.close()
    for look_alike in ("id001-camera", "id001-2"):  # a suffix is another thing's name, not ours
        other = RawClient(stack.port, ctx)
        try:
            assert other.connect(look_alike) == 0x87
        finally:
            other.close()
    ok = RawClient(stack.port, ctx)
    try:
        assert ok.connect("id001") == 0
    finally:
        ok.close()


def test_topic_outside_the_prefix_is_refused_and_logged(stack, paths):
    client = _raw(stack, paths)
    try:
        assert client.publish("other/secrets", b"{}", 1, "m-1") == 0x87
    finally:
        client.close()
    errors = wait_for(lambda: stack.journal.errors())
    assert "not authorised" in errors[0]["reason"] and errors[0]["topic"] == "other/secrets"


def test_bad_messages_are_logged_with_a_reason_and_the_engine_keeps_going(runner, stack, paths):
    """What IoT Core's JSON rules refuse is refused with a reason; everything else is stored
    (tests/telemetry/test_store_as_sent.py)."""
    prefix = "handson"
    good = sensor_record("id001", WHEN, 1.0)
    bad = [
        (f"{prefix}/sensorLogData", b"not json at all", "not JSON"),
        (
            f"{prefix}/sensorLogData",
            json.dumps({"DeviceID": "id001", "Datetime": "x", "Value": "x" * 140_000}).encode(),
            "128 KB",
        ),
        (f"{prefix}/sensorLogData", b'{"DeviceID": "id001", "Value": NaN}', "not JSON"),
        (f"{prefix}/authLogData", b'["DeviceID", "id001"]', "JSON object"),
        (f"{prefix}/sensorLogData", json.dumps({"Value": 1}).encode(), "sensor table: DeviceID and Datetime"),
        (f"{prefix}/fooLogData", b"{}", "unknown topic"),
    ]
    client = _raw(stack, paths)
    try:
        for i, (topic, payload, _reason) in enumerate(bad, start=1):
            assert client.publish(topic, payload, i, f"bad-{i}") == 0  # the broker accepts; the rules refuse
        assert client.publish(f"{prefix}/sensorLogData", json.dumps(good).encode(), 99, "good-1") == 0
    finally:
        client.close()
    errors = wait_for(lambda: len(stack.journal.errors()) == len(bad) and stack.journal.errors())
    reasons = [e["reason"] for e in reversed(errors)]
    for (_t, _p, expected), reason in zip(bad, reasons, strict=True):
        assert expected in reason
    assert stack.engine.status()["errors"] == len(bad)
    # The keyless sensor message failed its table action only: the event store has it.
    wait_for(lambda: runner.events.count("sensor") == 2)
    assert runner.events.count("auth") == 0


def test_redelivered_message_is_stored_once(runner, stack, paths, tele_settings):
    door = json.dumps(door_open_record("id001", WHEN, "Taro_Yamada")).encode()
    first = _raw(stack, paths)
    try:
        assert first.publish("handson/doorOpenLogData", door, 1, "same-id") == 0
    finally:
        first.close()
    # Redelivery after a reconnect: new connection, new packet id, same message id.
    second = _raw(stack, paths)
    try:
        assert second.publish("handson/doorOpenLogData", door, 7, "same-id") == 0
        assert second.publish("handson/doorOpenLogData", door, 8, "another-id") == 0  # a genuine second event
    finally:
        second.close()
    settle(stack)
    assert runner.events.count("door") == 2
    assert len(_objects(runner, tele_settings.logs_bucket, DOOR_KEY)) == 2


def test_mqtt_311_clients_are_served_too(runner, stack, paths):
    client = _raw(stack, paths, version=4)
    try:
        payload = json.dumps(sensor_record("id001", WHEN, 7.0)).encode()
        assert client.publish("handson/sensorLogData", payload, 1, version=4) == 0
    finally:
        client.close()
    wait_for(lambda: runner.events.count("sensor") == 1)


def test_outage_then_the_outbox_drains_in_order_with_nothing_lost_or_doubled(runner, make_publisher):
    pub = make_publisher()  # the broker is not running yet
    t0 = WHEN
    first = [
        sensor_record("id001", t0, float(i)) | {"Datetime": (t0 + timedelta(milliseconds=i)).isoformat()}
        for i in range(300)
    ]
    pub.publish_many("sensor", first)
    time.sleep(0.5)
    assert pub.status()["connected"] is False and pub.status()["outbox_depth"] == 300

    runner.start()
    assert pub.wait_drained(30), pub.status()
    wait_for(lambda: runner.events.count("sensor") == 300)
    # In order: the journal (arrival order) lists the values 0..299 ascending.
    entries = runner.stack.journal.after(0, 1000)
    assert [json.loads(e.payload)["Value"] for e in entries] == [float(i) for i in range(300)]

    # A second outage in the middle of a stream.
    total = 900

    def produce():
        for i in range(300, total):
            pub.publish(
                "sensor",
                sensor_record("id001", t0, float(i)) | {"Datetime": (t0 + timedelta(milliseconds=i)).isoformat()},
            )
            time.sleep(0.001)

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: runner.events.count("sensor") >= 450)
    runner.stop()
    time.sleep(0.3)
    runner.start()
    producer.join(30)
    assert pub.wait_drained(30), pub.status()
    wait_for(lambda: runner.events.count("sensor") == total)
    values = runner.events.query("sensor")["Value"].tolist()
    assert sorted(values) == [float(i) for i in range(total)]  # nothing lost, nothing doubled


def test_records_left_by_a_closed_app_are_sent_by_the_next_one(runner, make_publisher, tele_settings):
    old = make_publisher()
    old.publish_many("door", [door_open_record("id001", WHEN + timedelta(seconds=i), f"P{i}") for i in range(20)])
    old.close()  # the app stops before the broker is back
    runner.start()
    new = make_publisher()
    assert new.wait_drained(20), new.status()
    settle(runner.stack)
    assert runner.events.count("door") == 20
    assert len(_objects(runner, tele_settings.logs_bucket, DOOR_KEY)) == 20


def test_publisher_rejects_records_of_the_wrong_shape(make_publisher):
    from core.errors import InvalidParameter

    pub = make_publisher()
    with pytest.raises(InvalidParameter, match="AuthenticationResult"):
        pub.publish("auth", {"DeviceID": "id001", "Datetime": "x", "PictureName": "p", "AuthenticationResult": 1})
    with pytest.raises(InvalidParameter, match="kind"):
        pub.publish("weather", {})
    with pytest.raises(InvalidParameter, match="128 KB"):
        pub.publish("sensor", {"DeviceID": "id001", "Datetime": "x", "Note": "x" * 140_000})
    assert pub.status()["outbox_depth"] == 0


def test_subscribers_see_messages_like_the_test_client(runner, stack, paths):
    import struct

    from core.telemetry import wire

    # The app's live-view identity subscribes (devices may not: tests/security/test_mqtt_policy.py).
    creds = LocalCA(paths.pki).monitor_credentials()
    watcher = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
    assert watcher.connect(creds.client_id) == 0
    try:
        body = struct.pack("!H", 1) + wire.enc_properties([]) + wire.enc_string("handson/#") + b"\x01"
        watcher.sock.sendall(wire.packet(wire.SUBSCRIBE, 0x02, body))
        kind, data = watcher.read_packet()
        assert kind == wire.SUBACK and data[-1] == 0
        sender = _raw(stack, paths)
        try:
            sender.publish("handson/sensorLogData", b'{"x":1}', 1, "w-1")
        finally:
            sender.close()
        kind, data = watcher.read_packet()
        topic, pos = wire.read_string(data, 0)
        assert kind == wire.PUBLISH and topic == "handson/sensorLogData" and data.endswith(b'{"x":1}')
    finally:
        watcher.close()


def test_the_iot_core_publisher_factory_speaks_the_same_protocol(runner, stack, paths, tele_settings):
    """The aws world's publisher (SDK flow control on, metrics in the username) against the
    local broker standing in for IoT Core's endpoint."""
    from core.telemetry.aws import build_iot_core_publisher

    creds = _device(paths)
    pub = build_iot_core_publisher(
        tele_settings,
        endpoint=f"127.0.0.1:{stack.port}",
        cert_file=creds.cert_file,
        key_file=creds.key_file,
        client_id="id001",
        ca_file=creds.ca_file,
    )
    try:
        pub.publish_many("sensor", [sensor_record("id001", WHEN + timedelta(seconds=i), float(i)) for i in range(5)])
        assert pub.wait_drained(20), pub.status()
    finally:
        pub.close()
    settle(stack)
    assert runner.events.count("sensor") == 5
