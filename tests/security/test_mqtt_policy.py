# ruff: noqa: F811 - the telemetry fixtures are imported by name so pytest finds them here
"""The local broker's IoT-policy stand-in at its edges: a device connects only with its own
client id (its certificate's thing name, exactly), publishes only under the topic prefix and
subscribes to nothing (tests/telemetry/test_devices.py: the app's monitor identity may).
tests/telemetry covers the plain cases (wrong id, other topic); here are the look-alikes.
The IoT Core policy's equivalent is asserted on the template in tests/aws."""

from __future__ import annotations

import struct

import pytest

from core.telemetry import wire
from core.telemetry.ca import LocalCA
from tests.telemetry.conftest import paths, runner, stack, tele_settings  # noqa: F401 (fixtures)
from tests.telemetry.rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker
NOT_AUTHORISED = 0x87


def _client(stack, paths, device_id="id001"):
    creds = LocalCA(paths.pki).device_credentials(device_id)
    return RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))


def _subscribe(client: RawClient, *filters: str) -> list[int]:
    body = struct.pack("!H", 7) + wire.enc_properties([])
    for flt in filters:
        body += wire.enc_string(flt) + b"\x01"
    client.sock.sendall(wire.packet(wire.SUBSCRIBE, 0x02, body))
    kind, data = client.read_packet()
    assert kind == wire.SUBACK
    return list(data[3:])  # packet id (2), properties length (1, empty), then one code per filter


@pytest.mark.parametrize(
    "client_id, allowed",
    [
        ("id001", True),
        ("id001-camera", False),  # another thing's name (``${iot:Connection.Thing.ThingName}``)
        ("id0011", False),  # the certificate's name as a prefix without the dash is someone else
        ("id00", False),
        ("ID001", False),
        ("id001 ", False),
        ("", False),
        ("x-id001", False),
    ],
)
def test_a_device_connects_only_with_its_own_client_id(stack, paths, client_id, allowed):
    client = _client(stack, paths)
    try:
        code = client.connect(client_id)
    finally:
        client.close()
    assert (code == 0) is allowed, (client_id, hex(code))


def test_publish_and_subscribe_only_under_the_prefix(stack, paths):
    client = _client(stack, paths)
    try:
        assert client.connect("id001") == 0
        assert client.publish("handson/sensorLogData", b'{"DeviceID": "id001", "Datetime": "x"}', 1) == 0
        for n, topic in enumerate(
            ("handsonX/authLogData", "other/handson/authLogData", "$aws/things/id002/shadow"), start=2
        ):
            assert client.publish(topic, b"{}", n) == NOT_AUTHORISED, topic
        codes = _subscribe(client, "handson/#", "#", "+/authLogData", "$SYS/#", "handsonX/#")
        assert all(c == NOT_AUTHORISED for c in codes), codes
    finally:
        client.close()
