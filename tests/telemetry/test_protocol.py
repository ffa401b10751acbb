"""Malformed MQTT packets cost the sender its connection and nothing else: the broker answers a
MQTT 5 client with DISCONNECT 0x81 (malformed packet), logs no error, and keeps serving.
The codec itself is fuzzed with hypothesis: every decoder raises ``ProtocolError`` only."""

from __future__ import annotations

import logging
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.telemetry import wire
from core.telemetry.ca import LocalCA
from tests.telemetry.rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker
MALFORMED = 0x81


def _client(stack, paths, device_id="id001") -> RawClient:
    creds = LocalCA(paths.pki).device_credentials(device_id)
    return RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))


def _until_closed(client: RawClient) -> list[tuple[int, bytes]]:
    """Packets the broker sends until it closes the connection (fails if it never does)."""
    got = []
    try:
        while True:
            got.append(client.read_packet())
    except (ConnectionError, OSError):
        return got


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _still_serving(stack, paths) -> None:
    client = _client(stack, paths)
    try:
        assert client.connect("id001") == 0
        assert client.publish("handson/sensorLogData", b'{"DeviceID":"id001","Datetime":"x"}', 9) == 0
    finally:
        client.close()


def test_publish_with_qos_3_closes_the_connection(stack, paths, caplog):
    client = _client(stack, paths)
    try:
        assert client.connect("id001") == 0
        body = wire.enc_string("handson/sensorLogData") + struct.pack("!H", 1) + wire.enc_properties([]) + b"{}"
        client.sock.sendall(wire.packet(wire.PUBLISH, 0x06, body))  # both QoS bits set
        packets = _until_closed(client)
    finally:
        client.close()
    assert [kind for kind, _ in packets] == [wire.DISCONNECT], packets  # no PUBACK: nothing accepted
    assert packets[0][1][0] == MALFORMED
    assert stack.broker.stats.received == 0
    assert not _errors(caplog)
    _still_serving(stack, paths)


@pytest.mark.parametrize(
    "props",
    [
        bytes([3, 0x02, 0x00, 0x00]),  # message expiry interval (4 bytes) cut after 2
        bytes([1, 0x01]),  # payload format indicator (1 byte) with no byte
        bytes([2, 0x23, 0x00]),  # topic alias (2 bytes) cut after 1
        bytes([5, 0x26, 0x00, 0x01, 0x61, 0x00]),  # user property whose value is missing
    ],
)
def test_a_truncated_property_is_a_malformed_packet(stack, paths, caplog, props):
    client = _client(stack, paths)
    try:
        assert client.connect("id001") == 0
        # The property region ends the packet (an empty payload), so a reader that ignores
        # the declared lengths runs off the end of the buffer.
        body = wire.enc_string("handson/sensorLogData") + struct.pack("!H", 1) + props
        client.sock.sendall(wire.packet(wire.PUBLISH, 0x02, body))
        packets = _until_closed(client)
    finally:
        client.close()
    assert [kind for kind, _ in packets] == [wire.DISCONNECT], packets
    assert packets[0][1][0] == MALFORMED
    assert not _errors(caplog), _errors(caplog)
    _still_serving(stack, paths)


# -- the codec, fuzzed ---------------------------------------------------------------------
@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=8))
@example(bytes([3, 0x02, 0x00, 0x00]), 0)
@example(bytes([1, 0x01]), 0)
def test_property_decoder_raises_only_protocol_errors(data, pos):
    try:
        props, end = wire.read_properties(data, pos)
    except wire.ProtocolError:
        return
    assert end <= len(data)
    assert wire.read_properties(wire.enc_properties(props), 0)[0] == props


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=32), st.integers(min_value=0, max_value=4))
@example(b"\x00\x00", 0)
def test_field_decoders_raise_only_protocol_errors(data, pos):
    for read in (wire.read_u8, wire.read_u16, wire.read_u32, wire.read_string, wire.read_binary, wire.decode_varint):
        try:
            _value, end = read(data, pos)
        except wire.ProtocolError:
            continue
        assert end <= len(data)


_KINDS = st.sampled_from([wire.PUBLISH, wire.SUBSCRIBE, wire.UNSUBSCRIBE, wire.PINGREQ, 0, 15, wire.CONNECT])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=_KINDS, flags=st.integers(0, 15), body=st.binary(max_size=80))
def test_random_packets_after_connect_never_break_the_broker(stack, paths, caplog, kind, flags, body):
    """A real TLS connection per example: whatever arrives, the broker logs no error, and a
    well-behaved client is served afterwards (checked once at the end of each example)."""
    client = _client(stack, paths, "id002")
    try:
        assert client.connect("id002") == 0
        client.sock.sendall(wire.packet(kind, flags, body))
        client.sock.sendall(wire.packet(wire.PINGREQ, 0, b""))
        try:
            while client.read_packet()[0] != wire.PINGRESP:
                pass
        except (ConnectionError, OSError):
            pass
    finally:
        client.close()
    assert not _errors(caplog), _errors(caplog)
