"""IoT Data Publish over the endpoint with boto3's ``iot-data`` client: into the real broker,
under its topic policy, through the rule engine into the event store the Logs and Analytics
pages read."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
import requests
from botocore.exceptions import ClientError

from tests.telemetry.conftest import StackRunner, free_port, wait_for

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def broker(endpoint):
    """The local broker + rule engine on the endpoint's data dir, on a free port."""
    settings = dataclasses.replace(endpoint.settings, mqtt_port=free_port(), analysis_buffer_seconds=1.0)
    runner = StackRunner(settings, stream_max_age_s=1.0)
    stack = runner.start()
    yield stack
    runner.stop()


def _events(endpoint, kind):
    from core.events.local import LocalEventStore

    return LocalEventStore(endpoint.settings.data_dir / "events" / "events.db").query(kind)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


COURSE_LOGS = {
    "auth": (
        "handson/authLogData",
        {"DeviceID": "id001", "Datetime": "2019-08-08 18:12:00", "AuthenticationResult": True,
         "PictureName": "image01_20190808181200.jpg", "Person": "Taro_Yamada"},
    ),
    "analysis": (
        "handson/analysisLogData",
        {"Datetime": "2019-01-01 00:00:00", "AgeRange-Low": 15, "AgeRange-High": 20, "Gender": "Female",
         "Smile": True, "Eyeglasses": False, "Sunglasses": False, "Beard": False, "Mustache": False,
         "EyesOpen": False, "MouthOpen": True},
    ),
    "door": ("handson/doorOpenLogData",
             {"DeviceID": "id001", "Datetime": "2019-08-08T09:12:30Z", "Person": "Taro_Yamada"}),
    "sensor": ("handson/sensorLogData", {"DeviceID": "id001", "Datetime": "2019-08-08T09:12:31Z", "Value": 123}),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(COURSE_LOGS))
def test_each_course_log_reaches_the_event_store(endpoint, broker, kind):
    topic, payload = COURSE_LOGS[kind]
    iot = endpoint.client("iot-data", cred=endpoint.device)
    before = len(_events(endpoint, kind))
    out = iot.publish(topic=topic, qos=1, payload=json.dumps(payload).encode())
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    wait_for(lambda: len(_events(endpoint, kind)) == before + 1, timeout=30)
    stored = _events(endpoint, kind).iloc[-1]
    for field, value in payload.items():
        if field != "Datetime":  # read back as a timestamp; zones are issue 12 §4's
            assert stored[field] == value, field
    # the broker saw the credential's own identity, as it sees an MQTT device's certificate
    recent = broker.journal.recent(topic, 1)
    assert recent and recent[0]["client_id"] == "id001"  # the thing name, exactly


def test_qos_0_from_the_phone_page_is_stored_too(endpoint, broker):
    """The course's phone page publishes with ``qos: '0'``; FaceGate still waits for the broker."""
    topic, payload = COURSE_LOGS["analysis"]
    iot = endpoint.client("iot-data", cred=endpoint.admin)
    before = len(_events(endpoint, "analysis"))
    iot.publish(topic=topic, qos=0, payload=json.dumps({**payload, "Gender": "Male"}))
    wait_for(lambda: len(_events(endpoint, "analysis")) == before + 1, timeout=30)


def test_the_brokers_topic_policy_applies(endpoint, broker):
    iot = endpoint.client("iot-data", cred=endpoint.device)
    with pytest.raises(ClientError) as err:
        iot.publish(topic="elsewhere/logs", qos=1, payload=b'{"a": 1}')
    assert err.value.response["Error"]["Code"] == "ForbiddenException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "elsewhere/logs" in err.value.response["Error"]["Message"]


def test_bad_publishes_are_refused_as_iot_core_refuses_them(endpoint, broker):
    iot = endpoint.client("iot-data", cred=endpoint.device)
    with pytest.raises(iot.exceptions.RequestEntityTooLargeException):
        iot.publish(topic="handson/sensorLogData", qos=1, payload=b"x" * (128 * 1024 + 1))
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.publish(topic="handson/+/wild", qos=1, payload=b"{}")
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.publish(topic="a/b/c/d/e/f/g/h/i", qos=1, payload=b"{}")


def test_the_rule_engine_refusal_is_visible_like_an_mqtt_one(endpoint, broker):
    """A payload the rule engine cannot store is accepted by the broker (as IoT Core accepts
    it) and lands in the error store the Logs page shows."""
    iot = endpoint.client("iot-data", cred=endpoint.device)
    errors_before = broker.journal.error_count()
    iot.publish(topic="handson/doorOpenLogData", qos=1, payload=b"not json at all")
    wait_for(lambda: broker.journal.error_count() == errors_before + 1, timeout=30)


def test_the_course_sensor_scripts_string_value(endpoint, broker):
    """The course's pub_sensor_data.py sends ``"Value": "123"`` (its int() is commented out);
    IoT Core's ``SELECT *`` rule stores it as sent."""
    iot = endpoint.client("iot-data", cred=endpoint.device)
    before = len(_events(endpoint, "sensor"))
    payload = {"DeviceID": "id001", "Datetime": _now(), "Value": "123"}
    iot.publish(topic="handson/sensorLogData", qos=1, payload=json.dumps(payload))
    wait_for(lambda: len(_events(endpoint, "sensor")) == before + 1, timeout=15)
    assert _events(endpoint, "sensor").iloc[-1]["Value"] == "123"  # as sent


def test_the_disk_guard_and_the_quota_answer_503_and_429_over_https(endpoint, broker):
    """The same gateway as MQTT (issue 13 §5): no space left for new data is 503, a device over
    its quota is 429 (ThrottlingException), and both recover."""
    iot = endpoint.client("iot-data", cred=endpoint.device)
    payload = json.dumps({"DeviceID": "id001", "Datetime": _now(), "Value": 1}).encode()
    guard = broker.gateway.disk
    guard.reserve_bytes, guard._free = guard.free_bytes() + 10 * 2**30, None
    try:
        with pytest.raises(ClientError) as err:
            iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert "storage full" in err.value.response["Error"]["Message"]
    finally:
        guard.reserve_bytes, guard._free = 512 * 2**20, None
    quotas = broker.gateway.quotas
    saved, saved_clock = quotas.messages_per_s, quotas._clock
    # A frozen clock: nothing refills between the two publishes, however slow the machine.
    quotas.messages_per_s, quotas._buckets, quotas._clock = 1.0, {}, lambda: 0.0
    try:
        iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)  # the one allowed this second
        with pytest.raises(ClientError) as err:
            iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert err.value.response["Error"]["Code"] == "ThrottlingException"
    finally:
        quotas.messages_per_s, quotas._buckets, quotas._clock = saved, {}, saved_clock
    iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)  # recovered


def test_a_revoked_device_cannot_publish_over_https_either(endpoint, broker):
    """Issue 13 §3 on the HTTPS path: the relay publishes as the credential's thing, so
    ``iot revoke-device`` refuses its HTTPS publishes too (403), and revoking the key itself
    (``aws-credentials revoke``) refuses it before any of that."""
    from core.awsapi.credentials import CredentialStore
    from core.telemetry.ca import LocalCA
    from core.telemetry.local import telemetry_paths

    store = CredentialStore(endpoint.settings.data_dir)
    iot = endpoint.client("iot-data", cred=store.create("board9", "device"))
    payload = json.dumps({"DeviceID": "board9", "Datetime": _now(), "Value": 1}).encode()
    iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)
    registry = LocalCA(telemetry_paths(endpoint.settings).pki).registry()
    try:
        assert registry.revoke("board9") == 1
    finally:
        registry.close()

    def refused() -> bool:
        try:
            iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)
        except ClientError as exc:
            return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return False

    wait_for(refused, timeout=30, interval=0.5)
    store.revoke("board9")
    with pytest.raises(ClientError) as err:
        iot.publish(topic="handson/sensorLogData", qos=1, payload=payload)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.value.response["Error"]["Code"] in ("ForbiddenException", "UnrecognizedClientException")


def test_without_a_broker_publish_is_503(endpoint, broker):
    """Checked last in this module: with the broker stopped the endpoint says so."""
    from core.awsapi.iotdata import BrokerRelay

    relay = BrokerRelay(dataclasses.replace(endpoint.settings, data_dir=endpoint.settings.data_dir / "nowhere"))
    from core.awsapi.errors import AwsError

    with pytest.raises(AwsError) as err:
        relay.publish("id001", "handson/sensorLogData", b"{}")
    assert err.value.status == 503 and "python -m core serve" in err.value.message
    assert requests.options(endpoint.url + "/topics/x", timeout=5).status_code == 200
