"""Course payload checks, the local CA, and the iot/events command lines."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from core.errors import InvalidParameter
from core.events.records import analysis_log_records, auth_log_records, door_open_record, sensor_record, utc_now
from core.telemetry.ca import LocalCA
from core.telemetry.payloads import BadMessage, check_message, check_record

ROOT = Path(__file__).resolve().parents[2]


def test_the_course_records_pass_the_checks():
    now = utc_now()
    for kind, records in {
        "auth": auth_log_records("id001", now, "a_20260401.jpg", [{"Face": {"ExternalImageId": "Taro"}}]),
        "analysis": analysis_log_records(now, [{"AgeRange": {"Low": 1, "High": 5}, "Smile": {"Value": True}}, {}]),
        "door": [door_open_record("id001", now, "Taro")],
        "sensor": [sensor_record("id001", now, 1.5, AccelX=0.1, GyroZ=2.0)],
    }.items():
        for record in records:
            assert check_message(kind, json.dumps(record).encode()) == record


@pytest.mark.parametrize(
    "kind, payload, reason",
    [
        ("sensor", b"\xff\xfe", "not JSON"),
        ("sensor", b"[1, 2]", "JSON object"),
        ("sensor", b'"just text"', "JSON object"),
        ("sensor", b'{"Value": NaN}', "not JSON"),
        ("door", b"{" * 100_000 + b"}" * 100_000, "128 KB"),
        ("door", b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "nested too deeply"),
    ],
)
def test_what_iot_core_refuses_is_refused_with_a_reason(kind, payload, reason):
    with pytest.raises(BadMessage, match=reason):
        check_message(kind, payload)


@pytest.mark.parametrize(
    "kind, payload",
    [
        ("sensor", {"DeviceID": "id001", "Datetime": "2019-08-08T09:12:31Z", "Value": "123"}),
        ("sensor", {"DeviceID": "id001", "Datetime": "t", "Value": True}),
        ("door", {"DeviceID": "id001", "Datetime": "t"}),
        ("analysis", {"Datetime": "t", "AgeRange-Low": "15"}),
        ("auth", {"DeviceID": "", "Datetime": "t", "AuthenticationResult": True}),
        ("auth", {}),
    ],
)
def test_any_json_object_passes_as_iot_cores_select_star_takes_it(kind, payload):
    assert check_message(kind, json.dumps(payload).encode()) == payload


@pytest.mark.parametrize(
    "kind, payload, reason",
    [
        ("sensor", {"DeviceID": "id001", "Datetime": "t", "Value": True}, "Value must be a number"),
        ("door", {"DeviceID": "id001", "Datetime": "t"}, "Person is missing"),
        ("analysis", {"Datetime": "t", "AgeRange-Low": 1.5}, "whole number"),
        ("auth", {"DeviceID": "", "Datetime": "t", "PictureName": "p", "AuthenticationResult": True}, "DeviceID"),
    ],
)
def test_the_apps_own_records_keep_the_courses_types(kind, payload, reason):
    with pytest.raises(BadMessage, match=reason):
        check_record(kind, payload)


def test_local_ca_issues_device_certificates(tmp_path):
    ca = LocalCA(tmp_path / "pki").ensure()
    creds = ca.create_device("id001", tmp_path / "out")
    cert = x509.load_pem_x509_certificate(creds.cert_file.read_bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.rfc4514_string() == "CN=id001"
    assert stat.S_IMODE(os.stat(creds.key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca.ca_key_file).st_mode) == 0o600
    before = ca.ca_file.read_bytes()
    LocalCA(tmp_path / "pki").ensure()  # a second start keeps the same CA
    assert ca.ca_file.read_bytes() == before
    with pytest.raises(InvalidParameter):
        ca.create_device("../../etc", tmp_path / "evil")


def _cli(settings, *args):
    env = dict(
        os.environ,
        FACEGATE_DATA_DIR=str(settings.data_dir),
        FACEGATE_PUBLISHER="direct",
        FACEGATE_SECRETS_FILE=str(settings.data_dir / "none.toml"),
    )
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_create_device_prints_one_line_of_json(settings, tmp_path):
    result = _cli(settings, "iot", "create-device", "--device-id", "board7", "--out", str(tmp_path / "board7"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    info = json.loads(lines[0])
    assert set(info) == {"endpoint", "port", "ca_file", "cert_file", "key_file", "client_id"}
    assert info["client_id"] == "board7" and info["port"] == settings.mqtt_port
    assert all(Path(info[k]).is_file() for k in ("ca_file", "cert_file", "key_file"))
    bad = _cli(settings, "iot", "create-device", "--device-id", "no/slashes", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "InvalidParameter" in bad.stderr


def test_events_query_prints_json_lines(services, settings):
    now = utc_now()
    services.publisher.publish("door", door_open_record("id001", now, "Taro_Yamada"))
    services.publisher.publish("door", door_open_record("id002", now, "Hanako"))
    result = _cli(settings, "events", "query", "--kind", "door", "--device", "id001", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["Person"] == "Taro_Yamada" and rows[0]["DeviceID"] == "id001"
    bad = _cli(settings, "events", "query", "--kind", "door", "--since", "not-a-date", "--json")
    assert bad.returncode == 2
