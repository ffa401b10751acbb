"""The course's log records (HANDSON.md step 4), built in one place for every caller."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, tzinfo

# A JSON string literal, possibly cut short by the end of the text (a payload preview).
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)("|\\?$)')
_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(when: datetime) -> str:
    """The course's door/sensor time format: ``%Y-%m-%dT%H:%M:%SZ``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_stamp(when: datetime, zone: tzinfo | None = None) -> str:
    """The course's auth/analysis time format: ``YYYY-mm-dd HH:MM:SS``, the device's local
    time without a zone, as the course's device writes it; ``zone`` is that local zone
    (``FACEGATE_TIMEZONE``, in which the event store reads such times back). Without a
    zone, ``when`` is written as it is."""
    if zone is not None and when.tzinfo is not None:
        when = when.astimezone(zone)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def auth_log_records(
    device_id: str, when: datetime, picture_name: str, face_matches: list[dict], zone: tzinfo | None = None
) -> list[dict]:
    """One record per match; one record without ``Person`` when nobody matched."""
    base = {"DeviceID": device_id, "Datetime": local_stamp(when, zone), "PictureName": picture_name}
    if not face_matches:
        return [{**base, "AuthenticationResult": False}]
    return [
        {**base, "AuthenticationResult": True, "Person": m["Face"].get("ExternalImageId", "")} for m in face_matches
    ]


def _flag(detail: dict, name: str) -> bool | None:
    value = detail.get(name)
    return None if value is None else bool(value.get("Value"))


def analysis_log_records(when: datetime, face_details: list[dict], zone: tzinfo | None = None) -> list[dict]:
    """One record per face. Attributes the engine cannot give are ``None`` (JSON null), never
    a guessed ``False``."""
    out = []
    for d in face_details:
        age = d.get("AgeRange") or {}
        gender = d.get("Gender") or {}
        out.append(
            {
                "Datetime": local_stamp(when, zone),
                "AgeRange-Low": age.get("Low"),
                "AgeRange-High": age.get("High"),
                "Gender": gender.get("Value"),
                "Smile": _flag(d, "Smile"),
                "Eyeglasses": _flag(d, "Eyeglasses"),
                "Sunglasses": _flag(d, "Sunglasses"),
                "Beard": _flag(d, "Beard"),
                "Mustache": _flag(d, "Mustache"),
                "EyesOpen": _flag(d, "EyesOpen"),
                "MouthOpen": _flag(d, "MouthOpen"),
            }
        )
    return out


def door_open_record(device_id: str, when: datetime, person: str) -> dict:
    return {"DeviceID": device_id, "Datetime": iso_utc(when), "Person": person}


def sensor_record(device_id: str, when: datetime, value: float | None = None, **axes: float | None) -> dict:
    """``Value`` is the course's distance reading; ``AccelX``... are the later board's axes."""
    record: dict[str, object] = {"DeviceID": device_id, "Datetime": iso_utc(when)}
    if value is not None:
        record["Value"] = value
    record.update({k: v for k, v in axes.items() if v is not None})
    return record


def quotes_name(text: str, name: str) -> bool:
    """True when ``text`` holds ``name`` as a JSON string, however a device escaped it
    (``"Pe\\u006eny"`` is ``"Penny"``), even in JSON that is cut short or broken: every
    string literal is decoded on its own. A string cut off by the end of ``text`` counts when
    it starts with ``name`` (forgetting errs towards erasing)."""
    if not name:
        return False
    for match in _JSON_STRING.finditer(text):
        body, closed = match.group(1), match.group(2) == '"'
        value = _decoded(body) if "\\" in body else body
        if value == name or (not closed and value.startswith(name)):
            return True
    return False


def _decoded(body: str) -> str:
    """A JSON string body with its escapes decoded; a cut or bad escape stays as it is."""
    return _ESCAPE.sub(lambda m: json.loads(f'"\\{m.group(1)}"'), body)


def parse_json_lines(body: bytes) -> list[dict]:
    """Records in an S3 log object: one JSON object, newline-separated objects, or objects
    written back to back (Firehose without a delimiter). Unreadable tails are skipped."""
    text = body.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    out: list[dict] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return out
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            nxt = text.find("\n", pos)
            if nxt < 0:
                return out
            pos = nxt + 1
            continue
        if isinstance(value, dict):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, dict))


def json_lines(records: list[dict]) -> bytes:
    """Records as newline-separated JSON objects (the course's log object body)."""
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
