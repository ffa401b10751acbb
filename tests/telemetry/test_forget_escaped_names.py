"""Forgetting a person finds their name however a device wrote it (issue 13 §13): JSON may
spell ``Penny`` as ``"Pe\\u006eny"``, in records that were stored, refused or not even JSON;
and the forgetting is logged with an opaque id, never the name."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.events.records import iso_utc
from core.usecases import retention

from .conftest import settle, wait_for

pytestmark = pytest.mark.broker

# Every way the name may sit in a file: plain, or with any letters \\u-escaped (either case).
NAME = "Penny"
ANY_SPELLING = re.compile(
    b"".join(b"(?:%s|\\\\u00%02x|\\\\u00%02X)" % (c.encode(), ord(c), ord(c)) for c in NAME), re.IGNORECASE
)


def _disk_holds(data_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(data_dir))
        for p in Path(data_dir).rglob("*")
        if p.is_file() and ANY_SPELLING.search(p.read_bytes())
    )


def test_forget_person_finds_json_escaped_names_everywhere(tele_settings, stack, make_publisher, admin, caplog):
    from core.bootstrap import build_services

    prefix = tele_settings.topic_prefix
    now = iso_utc(datetime.now(UTC))
    escaped = '"Pe\\u006eny"'  # what json.loads reads as "Penny"
    auth = (
        f'{{"DeviceID": "id001", "Datetime": "{now}", "PictureName": "a.jpg", '
        f'"AuthenticationResult": true, "Person": {escaped}}}'
    )
    door = f'{{"DeviceID": "id001", "Datetime": "{now}", "Person": "P\\u0065nny"}}'
    broken = f'{{"DeviceID": "id001", "Person": {escaped}, '  # not JSON: the rules refuse it
    pub = make_publisher()
    pub.publish_raw(f"{prefix}/authLogData", auth.encode())
    pub.publish_raw(f"{prefix}/doorOpenLogData", door.encode())
    pub.publish_raw(f"{prefix}/authLogData", broken.encode())
    pub.publish_raw(
        f"{prefix}/doorOpenLogData", json.dumps({"DeviceID": "id001", "Datetime": now, "Person": "Howard"}).encode()
    )
    assert pub.wait_drained(timeout=20)
    settle(stack)
    wait_for(lambda: stack.journal.errors(50))  # the unreadable one is in the refused records
    assert any("u006eny" in e["payload"] for e in stack.journal.errors(50))
    assert _disk_holds(tele_settings.data_dir)  # journal, event store, log objects, errors

    services = build_services(dataclasses.replace(tele_settings, publisher="direct"))
    try:
        # In aws the IoT rules write the payload as sent into the logs bucket, and a failed
        # rule's error action writes IoT's error message with the payload in base64.
        bucket = tele_settings.logs_bucket
        services.objects.put_object(
            bucket, "2026/12/01/aws-auth-log-data.json", (auth + "\n").encode(), "application/json"
        )
        error = {
            "ruleName": "auth_log_rule",
            "topic": f"{prefix}/authLogData",
            "clientId": "id001",
            "base64OriginalPayload": base64.b64encode(broken.encode()).decode(),
            "failures": [{"failedAction": "S3Action", "errorMessage": "..."}],
        }
        services.objects.put_object(bucket, "rule-errors/auth/1-x.json", json.dumps(error).encode(), "application/json")
        with caplog.at_level(logging.INFO):
            counts = retention.forget_person(services, NAME)
        assert counts["log_records"] >= 4, counts
        assert _disk_holds(tele_settings.data_dir) == []
        assert list(services.events.query("door")["Person"]) == ["Howard"]
        left = [o.key for o in services.objects.list_objects(bucket)]
        assert "2026/12/01/aws-auth-log-data.json" not in left and "rule-errors/auth/1-x.json" not in left
        # The log says that a person was forgotten, under an id the caller got back, not who.
        said = "\n".join(r.getMessage() for r in caplog.records)
        assert counts["erasure"] in said and not ANY_SPELLING.search(said.encode())
    finally:
        services.close()


def test_quotes_name_decodes_json_strings_even_in_a_cut_preview():
    from core.events.records import quotes_name

    assert quotes_name('{"Person": "Pe\\u006eny", "x": 1}', NAME)
    assert quotes_name('{"a": "\\u0050\\u0065nny"', NAME)  # cut short: still a whole string
    assert quotes_name('["Penny"]', NAME)
    assert not quotes_name('{"Person": "Penny_Lane"}', NAME)
    assert quotes_name('{"Note": "Pe\\u006eny_', NAME)  # cut off: erring towards erasing
    assert not quotes_name('{"Note": "Pen', NAME)
    assert not quotes_name('{"Person": "Pe\\u006e"}', NAME)
    assert not quotes_name("not json at all", NAME)
