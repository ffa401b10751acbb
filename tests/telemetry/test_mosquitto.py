"""The external-broker switch against Debian's Mosquitto with mutual TLS (CI installs it):
publisher -> Mosquitto -> the rule engine as a subscriber with manual PUBACK -> stores."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from core.events.records import door_open_record, sensor_record, utc_now
from core.telemetry.ca import LocalCA

from .conftest import StackRunner, free_port, settle, wait_for
from .rawmqtt import RawClient, tls_context

pytestmark = pytest.mark.broker

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


@pytest.fixture
def mosquitto(tmp_path, tele_settings):
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (CI installs the Debian package)")
    ca = LocalCA(tele_settings.data_dir / "telemetry" / "pki").ensure()
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # Started as root Mosquitto would drop to user "mosquitto", which cannot read our
    # owner-only key files: stay root (ignored when not started as root).
    conf.write_text(
        "\n".join(
            [
                "user root" if os.geteuid() == 0 else "",
                f"listener {port} 127.0.0.1",
                f"cafile {ca.ca_file}",
                f"certfile {ca.broker_cert_file}",
                f"keyfile {ca.broker_key_file}",
                "require_certificate true",
                "use_identity_as_username true",
                "allow_anonymous false",
                "persistence false",
                "max_queued_messages 0",
                "max_inflight_messages 0",
                "log_dest stderr",
                "log_type error",
                "",
            ]
        )
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"mosquitto exited: {proc.stderr.read()}")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_mosquitto_with_mutual_tls_feeds_the_rule_engine(mosquitto, tele_settings, make_publisher):
    settings = dataclasses.replace(tele_settings, mqtt_endpoint=f"127.0.0.1:{mosquitto}")
    runner = StackRunner(settings)
    try:
        stack = runner.start()
        wait_for(lambda: stack.subscription.subscribed.is_set(), timeout=15)
        pub = make_publisher(settings)
        sensors = [
            sensor_record("id001", utc_now(), float(i)) | {"Datetime": f"2026-04-01T09:00:00.{i:03d}Z"}
            for i in range(200)
        ]
        pub.publish_many("sensor", sensors)
        pub.publish("door", door_open_record("id001", utc_now(), "Taro_Yamada"))
        assert pub.wait_drained(20), pub.status()
        wait_for(lambda: runner.events.count("sensor") == 200 and runner.events.count("door") == 1)
        assert pub.status()["endpoint"] == f"127.0.0.1:{mosquitto}"

        # A redelivered message (same facegate-id) through Mosquitto is still stored once.
        creds = LocalCA(settings.data_dir / "telemetry" / "pki").device_credentials("id001")
        raw = RawClient(mosquitto, tls_context(creds.ca_file, creds.cert_file, creds.key_file))
        try:
            assert raw.connect("id001-raw") == 0
            body = json.dumps(door_open_record("id001", utc_now(), "Hanako")).encode()
            raw.publish("handson/doorOpenLogData", body, 1, "dup-1")
            raw.publish("handson/doorOpenLogData", body, 2, "dup-1")
        finally:
            raw.close()
        wait_for(lambda: runner.events.count("door") == 2)
        time.sleep(0.3)
        settle(stack)
        assert runner.events.count("door") == 2
    finally:
        runner.stop()


def test_mosquitto_rejects_a_client_without_certificate(mosquitto, tele_settings):
    ca = LocalCA(tele_settings.data_dir / "telemetry" / "pki")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        client = RawClient(mosquitto, tls_context(ca.ca_file))
        try:
            client.connect("id001")
        finally:
            client.close()
