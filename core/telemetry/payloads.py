"""Checking messages against the course's payloads (HANDSON.md step 4).

Two strictnesses, on purpose:

* ``check_message`` — what the rule engine accepts from a device: what IoT Core's
  ``SELECT *`` rule would deliver to its actions, i.e. any JSON object within 128 KB, stored
  as sent (``"Value": "123"`` as a string, a door log without ``Person``...). Types are read
  where the data is read (``core.events.columns``). Refused, with a reason the error store
  shows: not JSON, not a JSON object, over 128 KB.
* ``check_record`` — what the app's own publisher sends: the course's types exactly, so that
  FaceGate itself never produces a record the course's code would trip over.
"""

from __future__ import annotations

import json
import math

from core.errors import InvalidParameter

MAX_MESSAGE_BYTES = 128 * 1024  # IoT Core's limit per message

_STR, _BOOL, _NUM, _INT = "text", "true/false", "a number", "a whole number"
_INT64 = (-(2**63), 2**63 - 1)  # what the stores (SQLite, DynamoDB numbers, Athena) can hold
# field -> (expected type, required, nullable)
_FIELDS = {
    "auth": {
        "DeviceID": (_STR, True, False),
        "Datetime": (_STR, True, False),
        "AuthenticationResult": (_BOOL, True, False),
        "PictureName": (_STR, True, False),
        "Person": (_STR, False, False),
    },
    "door": {"DeviceID": (_STR, True, False), "Datetime": (_STR, True, False), "Person": (_STR, True, False)},
    "analysis": {
        "Datetime": (_STR, True, False),
        "AgeRange-Low": (_INT, False, True),
        "AgeRange-High": (_INT, False, True),
        "Gender": (_STR, False, True),
        **{
            name: (_BOOL, False, True)
            for name in ("Smile", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "EyesOpen", "MouthOpen")
        },
    },
    "sensor": {
        "DeviceID": (_STR, True, False),
        "Datetime": (_STR, True, False),
        "Value": (_NUM, False, True),
        **{f"{k}{a}": (_NUM, False, True) for k in ("Accel", "Gyro", "Mag") for a in "XYZ"},
        "Latitude": (_NUM, False, True),
        "Longitude": (_NUM, False, True),
        "Accuracy": (_NUM, False, True),
    },
}


class BadMessage(InvalidParameter):
    """A message the rule engine cannot store; the message says why."""


def _type_ok(value, expected: str) -> bool:
    if expected == _STR:
        return isinstance(value, str) and value != ""
    if expected == _BOOL:
        return isinstance(value, bool)
    if expected == _INT:
        return isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, float) and math.isfinite(value)


def check_record(kind: str, record) -> dict:
    """``record`` if it is a valid ``kind`` payload, else raise ``BadMessage``."""
    if not isinstance(record, dict):
        raise BadMessage("payload must be a JSON object")
    for name, (expected, required, nullable) in _FIELDS[kind].items():
        if name not in record:
            if required:
                raise BadMessage(f"{name} is missing")
            continue
        value = record[name]
        if value is None and nullable:
            continue
        if not _type_ok(value, expected):
            raise BadMessage(f"{name} must be {expected}, not {json.dumps(value)[:40]}")
    return record


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Python would accept NaN and Infinity


def check_message(kind: str, payload: bytes) -> dict:
    """Decode one device message for the rules of ``kind``: any JSON object up to 128 KB.
    Raises ``BadMessage`` for what IoT Core's JSON rules refuse (not JSON, not an object,
    too large)."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message is {len(payload)} bytes, over the 128 KB limit")
    try:
        record = json.loads(payload, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise BadMessage("payload is not JSON") from None
    except RecursionError:
        raise BadMessage("payload is not JSON we can store: nested too deeply") from None
    if not isinstance(record, dict):
        raise BadMessage("payload must be a JSON object")
    return record
