"""Devices that cannot spy, impersonate or outlive their revocation (issue 13, items 1-3).

- Devices subscribe to nothing, as the template's IoT policy grants them no iot:Subscribe; the
  app's live view has an identity of its own (``facegate-monitor``) that may.
- A certificate connects only with its thing name as client id, exactly; every stored record
  carries who sent it, so a forged ``DeviceID`` is visible.
- The device registry: ``python -m core iot list-devices | revoke-device | delete-device``,
  checked at every connect; a revoked device's live session ends at once.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.deploy.template import load_template
from core.telemetry import wire
from core.telemetry.ca import LocalCA
from core.telemetry.gateway import TopicPolicy
from core.telemetry.registry import Identity

from .conftest import settle
from .rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]
NOT_AUTHORISED = 0x87
AUTH_LOG = json.dumps(
    {"DeviceID": "cam", "Datetime": "2026-04-01 09:00:00", "AuthenticationResult": True, "PictureName": "p.jpg"}
    | {"Person": "Penny"}
).encode()


def _connect(stack, creds, client_id=None, version=5) -> RawClient:
    client = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
    code = client.connect(client_id or creds.client_id, version)
    assert code == 0, hex(code)
    return client


def _subscribe(client: RawClient, filters, version=5) -> list[int]:
    body = struct.pack("!H", 7) + (wire.enc_properties([]) if version == 5 else b"")
    for flt in filters:
        body += wire.enc_string(flt) + b"\x01"
    client.sock.sendall(wire.packet(wire.SUBSCRIBE, 0x02, body))
    kind, data = client.read_packet()
    assert kind == wire.SUBACK
    return list(data[3:] if version == 5 else data[2:])


def _cli(settings, *args) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(settings.data_dir),
        FACEGATE_SECRETS_FILE=str(settings.data_dir / "none.toml"),
    )
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _template_device_actions() -> set[str]:
    policy = load_template()["Resources"]["DevicePolicy"]["Properties"]["PolicyDocument"]
    actions = set()
    for stmt in policy["Statement"]:
        if stmt["Effect"] == "Allow":
            actions |= {stmt["Action"]} if isinstance(stmt["Action"], str) else set(stmt["Action"])
    return actions


# -- 1. subscriptions --------------------------------------------------------------------------
def test_the_local_policy_grants_a_device_what_the_template_grants_it():
    granted = _template_device_actions()
    device = Identity("board1", "device")
    local = {"iot:Connect"}
    if TopicPolicy("handson").may_publish(device, "handson/sensorLogData"):
        local.add("iot:Publish")
    if TopicPolicy("handson").may_subscribe(device, "handson/sensorLogData"):
        local |= {"iot:Subscribe", "iot:Receive"}
    assert local == granted, (local, granted)


@pytest.mark.parametrize("version", [5, 4])
def test_a_device_cannot_read_the_auth_logs(stack, paths, version):
    ca = LocalCA(paths.pki)
    spy = _connect(stack, ca.device_credentials("sensor-board"), version=version)
    camera = _connect(stack, ca.device_credentials("cam"))
    try:
        refused = NOT_AUTHORISED if version == 5 else 0x80
        codes = _subscribe(spy, ["handson/#", "handson/+", "handson/authLogData", "#"], version)
        assert codes == [refused] * 4, codes
        assert camera.publish("handson/authLogData", AUTH_LOG, 1) == 0
        spy.sock.settimeout(1.5)
        with pytest.raises((TimeoutError, socket.timeout)):
            spy.read_packet()  # nothing arrives, Penny's name least of all
    finally:
        spy.close()
        camera.close()


def test_the_apps_live_view_subscribes_with_its_own_identity(stack, paths):
    ca = LocalCA(paths.pki)
    monitor = _connect(stack, ca.monitor_credentials())
    camera = _connect(stack, ca.device_credentials("cam"))
    try:
        assert _subscribe(monitor, ["handson/#", "#", "other/#"]) == [0, NOT_AUTHORISED, NOT_AUTHORISED]
        assert camera.publish("handson/authLogData", AUTH_LOG, 1) == 0
        kind, data = monitor.read_packet()
        topic, _pos = wire.read_string(data, 0)
        assert kind == wire.PUBLISH and topic == "handson/authLogData" and data.endswith(AUTH_LOG)
        # The monitor watches; it does not write logs.
        assert monitor.publish("handson/authLogData", AUTH_LOG, 2) == NOT_AUTHORISED
    finally:
        monitor.close()
        camera.close()


# -- 2. identity ---------------------------------------------------------------------------------
def test_a_certificate_cannot_take_over_another_devices_session(stack, paths):
    ca = LocalCA(paths.pki)
    door2 = _connect(stack, ca.device_credentials("door-2"))
    try:
        door = ca.device_credentials("door")
        impostor = RawClient(stack.port, tls_context(door.ca_file, door.cert_file, door.key_file))
        try:
            assert impostor.connect("door-2") == NOT_AUTHORISED
        finally:
            impostor.close()
        # The real door-2 is still connected and served.
        assert door2.publish("handson/doorOpenLogData", b'{"DeviceID":"door-2","Datetime":"x","Person":"P"}', 3) == 0
    finally:
        door2.close()


def test_every_stored_record_says_which_certificate_sent_it(runner, stack, paths):
    ca = LocalCA(paths.pki)
    door = _connect(stack, ca.device_credentials("door"))
    forged = {"DeviceID": "id001", "Datetime": "2026-04-01T09:00:00Z", "Person": "Mallory"}
    before = time.time()
    try:
        assert door.publish("handson/doorOpenLogData", json.dumps(forged).encode(), 1) == 0
    finally:
        door.close()
    settle(stack)
    row = runner.events.query("door", receipts=True).iloc[0]
    assert row["DeviceID"] == "id001" and row["SentBy"] == "door"  # the forgery shows
    assert before - 1 <= row["ReceivedAt"].timestamp() <= time.time() + 1
    assert stack.journal.recent()[0]["client_id"] == "door"


# -- 3. the registry ------------------------------------------------------------------------------
def test_operator_lists_revokes_and_deletes_devices_and_live_sessions_end(stack, paths, tele_settings, tmp_path):
    made = _cli(tele_settings, "iot", "create-device", "--device-id", "board1", "--out", str(tmp_path / "board1"))
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    creds = type("Creds", (), {k: Path(info[k]) for k in ("ca_file", "cert_file", "key_file")})
    listed = [json.loads(line) for line in _cli(tele_settings, "iot", "list-devices").stdout.splitlines()]
    board = [d for d in listed if d["device_id"] == "board1"]
    assert len(board) == 1 and board[0]["status"] == "ACTIVE" and board[0]["role"] == "device"
    assert len(board[0]["certificate_id"]) == 64

    live = _connect(stack, creds, "board1")
    try:
        assert live.publish("handson/sensorLogData", b'{"DeviceID":"board1","Datetime":"x","Value":1}', 1) == 0
        revoked = _cli(tele_settings, "iot", "revoke-device", "--device-id", "board1")
        assert revoked.returncode == 0 and json.loads(revoked.stdout)["revoked"] == 1, revoked.stderr
        t0 = time.monotonic()
        live.sock.settimeout(10)
        kind, data = live.read_packet()  # the broker ends the session by itself
        assert kind == wire.DISCONNECT and data[0] == NOT_AUTHORISED
        with pytest.raises((ConnectionError, OSError)):
            live.read_packet()
        assert time.monotonic() - t0 < 5
    finally:
        live.close()
    again = RawClient(stack.port, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
    try:
        assert again.connect("board1") == NOT_AUTHORISED
    finally:
        again.close()
    listed = [json.loads(line) for line in _cli(tele_settings, "iot", "list-devices").stdout.splitlines()]
    assert [d["status"] for d in listed if d["device_id"] == "board1"] == ["REVOKED"]

    deleted = _cli(tele_settings, "iot", "delete-device", "--device-id", "board1")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["deleted"] == 1
    listed = [json.loads(line) for line in _cli(tele_settings, "iot", "list-devices").stdout.splitlines()]
    assert not [d for d in listed if d["device_id"] == "board1"]
    unknown = _cli(tele_settings, "iot", "revoke-device", "--device-id", "board1")
    assert unknown.returncode == 2 and "ResourceNotFound" in unknown.stderr
    assert stack.broker.stats.revoked_sessions_ended == 1


def test_a_certificate_of_this_ca_that_is_not_registered_is_refused_until_registered(
    stack, paths, tele_settings, tmp_path
):
    """A certificate issued before the registry existed (or copied off a device) is not
    trusted because the CA signed it: it needs an entry in the registry."""
    from cryptography.hazmat.primitives import serialization

    ca = LocalCA(paths.pki)
    key, cert = ca._issue("old-board", server=False)
    cert_file, key_file = tmp_path / "old.pem", tmp_path / "old.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = tls_context(ca.ca_file, cert_file, key_file)
    first = RawClient(stack.port, ctx)
    try:
        assert first.connect("old-board") == NOT_AUTHORISED
    finally:
        first.close()
    adopted = _cli(tele_settings, "iot", "register-device", "--cert", str(cert_file))
    assert adopted.returncode == 0, adopted.stderr
    second = RawClient(stack.port, ctx)
    try:
        assert second.connect("old-board") == 0
    finally:
        second.close()
    foreign = LocalCA(tmp_path / "other").create_device("evil", tmp_path / "evil")
    refused = _cli(tele_settings, "iot", "register-device", "--cert", str(foreign.cert_file))
    assert refused.returncode == 2 and "not issued by this FaceGate" in refused.stderr


def test_create_device_refuses_the_apps_own_names(tele_settings, tmp_path):
    result = _cli(tele_settings, "iot", "create-device", "--device-id", "facegate-monitor", "--out", str(tmp_path))
    assert result.returncode == 2 and "app's own" in result.stderr
