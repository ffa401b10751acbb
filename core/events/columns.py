"""Typed columns of each log kind: one table layout shared by both worlds' query layer.

The course's payload fields (HANDSON.md step 4) map to snake_case columns so that the
analytics SQL reads the same whatever stored the events. Every table also has ``ts``: the
record's ``Datetime`` as microseconds since the epoch, UTC. Records are stored as sent (IoT
Core's ``SELECT *`` stores any JSON object): the typed columns hold each value read as its
type where that is possible (``"Value": "123"`` is 123.0), fields whose type is not the
column's, and fields beyond these (a board's ``MagX``, a producer's own extras) are kept
verbatim in ``extra`` (JSON), and ``unreadable`` counts the course fields that could not be
read, so charts can say so instead of dropping them silently.

Datetime formats: auth/analysis use ``YYYY-mm-dd HH:MM:SS`` (the device's local time) and
door/sensor ISO with ``Z``; a time without a zone is read in ``FACEGATE_TIMEZONE`` (default:
this machine's zone), and the text as sent is kept too (``datetime_raw``).
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# (payload field, column, type) per kind; type is one of TEXT, BOOL, INT, REAL.
KIND_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "auth": (
        ("DeviceID", "device", "TEXT"),
        ("AuthenticationResult", "result", "BOOL"),
        ("PictureName", "picture", "TEXT"),
        ("Person", "person", "TEXT"),
    ),
    # Analysis records carry no DeviceID in the course contract; a producer may add one.
    "analysis": (
        ("DeviceID", "device", "TEXT"),
        ("AgeRange-Low", "age_low", "INT"),
        ("AgeRange-High", "age_high", "INT"),
        ("Gender", "gender", "TEXT"),
        ("Smile", "smile", "BOOL"),
        ("Eyeglasses", "eyeglasses", "BOOL"),
        ("Sunglasses", "sunglasses", "BOOL"),
        ("Beard", "beard", "BOOL"),
        ("Mustache", "mustache", "BOOL"),
        ("EyesOpen", "eyes_open", "BOOL"),
        ("MouthOpen", "mouth_open", "BOOL"),
        # Not in the course contract: the dominant emotion, when an engine gives one.
        ("Emotion", "emotion", "TEXT"),
    ),
    "door": (
        ("DeviceID", "device", "TEXT"),
        ("Person", "person", "TEXT"),
    ),
    "sensor": (
        ("DeviceID", "device", "TEXT"),
        ("Value", "value", "REAL"),
        ("AccelX", "accel_x", "REAL"),
        ("AccelY", "accel_y", "REAL"),
        ("AccelZ", "accel_z", "REAL"),
        ("GyroX", "gyro_x", "REAL"),
        ("GyroY", "gyro_y", "REAL"),
        ("GyroZ", "gyro_z", "REAL"),
    ),
}

# Payload fields every record of a kind has (returned by ``query`` even when all empty).
CONTRACT_FIELDS = {
    "auth": ("DeviceID", "Datetime", "AuthenticationResult", "PictureName", "Person"),
    "analysis": (
        "Datetime",
        "AgeRange-Low",
        "AgeRange-High",
        "Gender",
        "Smile",
        "Eyeglasses",
        "Sunglasses",
        "Beard",
        "Mustache",
        "EyesOpen",
        "MouthOpen",
    ),
    "door": ("DeviceID", "Datetime", "Person"),
    "sensor": ("DeviceID", "Datetime"),
}

SQLITE_TYPES = {"TEXT": "TEXT", "BOOL": "INTEGER", "INT": "INTEGER", "REAL": "REAL"}
DUCKDB_TYPES = {"TEXT": "VARCHAR", "BOOL": "BOOLEAN", "INT": "INTEGER", "REAL": "DOUBLE"}
PANDAS_TYPES = {"TEXT": "object", "BOOL": "boolean", "INT": "Int64", "REAL": "float64"}


def column_names(kind: str) -> list[str]:
    """``ts`` then the typed columns of ``kind`` (without ``extra``)."""
    return ["ts"] + [c for _, c, _ in KIND_COLUMNS[kind]]


def parse_datetime_us(value, zone: tzinfo | None = None) -> int | None:
    """Microseconds since the epoch of a course Datetime, or None when unreadable. A time
    without a zone is read in ``zone`` (``FACEGATE_TIMEZONE``; UTC when not given): the
    course's devices stamp their local time."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return None
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except ValueError:
            import pandas as pd  # noqa: PLC0415 (lazy: only for dates ISO 8601 cannot read)

            with warnings.catch_warnings():  # "could not infer format": we read one value
                warnings.simplefilter("ignore")
                stamp = pd.to_datetime(text, errors="coerce")
            if pd.isna(stamp):
                return None
            when = stamp.to_pydatetime()
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone or UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNREADABLE = object()
_INT64 = (-(2**63), 2**63 - 1)
# Text columns in the analytics copy are cut to this many characters: a chart needs a name,
# not the 100 KB a device may put in its DeviceID.
TEXT_CHARS = 256


def _number(text: str):
    try:
        return float(text.strip())
    except ValueError:
        return None


def _coerce(value, kind: str):
    """``value`` read as ``kind`` where the data is read (strings where the course sends
    strings: ``"123"`` is 123.0 for a REAL), or ``_UNREADABLE``; None stays None."""
    if value is None:
        return None
    if kind == "TEXT":
        if isinstance(value, str):
            return value
        if isinstance(value, (bool, int, float)):
            return json.dumps(value)
        return _UNREADABLE
    if kind == "BOOL":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return int(value.strip().lower() == "true")
        if isinstance(value, int) and value in (0, 1):
            return value
        return _UNREADABLE
    if isinstance(value, bool):
        return _UNREADABLE
    if isinstance(value, str):
        value = _number(value)
        if value is None:
            return _UNREADABLE
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return _UNREADABLE
    if kind == "INT":
        if isinstance(value, float):
            if not value.is_integer():
                return _UNREADABLE
            value = int(value)
        return value if _INT64[0] <= value <= _INT64[1] else _UNREADABLE
    return float(value)


_NATURAL = {"TEXT": (str,), "BOOL": (bool,), "INT": (int,), "REAL": (int, float)}


def _as_sent(value, kind: str) -> bool:
    """Whether the typed column gives back ``value`` as sent (else it is kept in extra)."""
    return value is None or (isinstance(value, _NATURAL[kind]) and not (kind != "BOOL" and isinstance(value, bool)))


def to_row(kind: str, record: dict, zone: tzinfo | None = None) -> tuple:
    """``(ts, typed columns..., extra, datetime_raw, unreadable)`` for one payload, stored as
    sent: a value whose type is not the column's (``"Value": "123"``) is read into the column
    where it can be and kept verbatim in ``extra``; unknown fields go to ``extra``;
    ``datetime_raw`` is the ``Datetime`` text as sent; ``unreadable`` counts the course
    fields (``Datetime`` included) present but not readable as their type."""
    extra, unreadable = {}, 0
    raw_time = record.get("Datetime")
    ts = parse_datetime_us(raw_time, zone)
    if raw_time is not None and ts is None:
        unreadable += 1
    if raw_time is not None and not isinstance(raw_time, str):
        extra["Datetime"] = raw_time
    row: list[object] = [ts]
    known = {"Datetime"}
    for field, _, typ in KIND_COLUMNS[kind]:
        known.add(field)
        value = record.get(field)
        typed = _coerce(value, typ)
        if typed is _UNREADABLE or not _as_sent(value, typ):
            extra[field] = value
        if typed is _UNREADABLE:
            unreadable += 1
            typed = None
        row.append(typed)
    for key, value in record.items():
        if key not in known:
            extra[key] = value
    row.append(json.dumps(extra, ensure_ascii=False, default=str) if extra else None)
    row.append(raw_time if isinstance(raw_time, str) else None)
    row.append(unreadable)
    return tuple(row)


def to_payload_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns (``ts``, ..., ``extra``) back to the course's payload fields as sent, plus
    ``Datetime`` as UTC timestamps (``RawDatetime``: the text of a time that could not be
    read); optional fields that are empty everywhere are dropped."""
    import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

    out = pd.DataFrame(index=frame.index)
    out["Datetime"] = (
        pd.to_datetime(frame["ts"], unit="us", utc=True) if len(frame) else pd.Series([], dtype="datetime64[us, UTC]")
    )
    for field, column, typ in KIND_COLUMNS[kind]:
        series = frame[column]
        if typ == "BOOL":
            series = series.astype("boolean")
        elif typ == "INT":
            series = series.astype("Int64")
        if field in CONTRACT_FIELDS[kind] or series.notna().any():
            out[field] = series

    def put(column: str, idx, value) -> None:
        if column not in out:
            out[column] = pd.Series([None] * len(out), index=out.index, dtype="object")
        elif out[column].dtype != "object":
            out[column] = out[column].astype("object")
        out.at[idx, column] = value

    if "extra" in frame and frame["extra"].notna().any():
        extras = frame["extra"].dropna().map(json.loads)
        for idx, values in extras.items():
            for key, value in values.items():
                put("RawDatetime" if key == "Datetime" else key, idx, value)
    if "datetime_raw" in frame:
        for idx in frame.index[frame["ts"].isna() & frame["datetime_raw"].notna()]:
            put("RawDatetime", idx, frame.at[idx, "datetime_raw"])
    # Not payload fields: when the message arrived and who sent it (local world).
    if "received" in frame:
        out["ReceivedAt"] = pd.to_datetime(frame["received"], unit="us", utc=True)
    if "sender" in frame:
        out["SentBy"] = frame["sender"].astype("object")
    if "received" in frame and "datetime_raw" in frame:
        out["DatetimeAsSent"] = frame["datetime_raw"].astype("object")
    return out.reset_index(drop=True)


def from_payload_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Payload-named events (as ``EventStore.query`` returns them) to the analytics columns
    (``ts``, typed columns, ``unreadable``), read as ``to_row`` reads them; used by stores
    without a columnar copy of their own (aws)."""
    import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

    rows = [to_row(kind, _payload(record)) for record in frame.to_dict(orient="records")]
    cols = column_names(kind)
    out = pd.DataFrame([(*r[: len(cols)], r[-1]) for r in rows], columns=[*cols, "unreadable"], index=range(len(rows)))
    out["ts"] = out["ts"].astype("Int64")
    for _field, column, typ in KIND_COLUMNS[kind]:
        out[column] = out[column].astype(PANDAS_TYPES[typ])
        if typ == "TEXT":
            out[column] = out[column].map(lambda v: v[:TEXT_CHARS] if isinstance(v, str) else v)
    out["unreadable"] = out["unreadable"].astype("int64")
    return out


def _payload(record: dict) -> dict:
    """A ``query`` row back to a payload: the time as sent, no empty optional fields."""
    import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

    out = {k: v for k, v in record.items() if k not in ("RawDatetime", "ReceivedAt", "SentBy") and not _empty(v)}
    when = record.get("Datetime")
    if record.get("RawDatetime") is not None and not _empty(record.get("RawDatetime")):
        out["Datetime"] = record["RawDatetime"]
    elif isinstance(when, (pd.Timestamp, datetime)) and not pd.isna(when):
        out["Datetime"] = when.isoformat()
    return out


def _empty(value) -> bool:
    import pandas as pd  # noqa: PLC0415 (lazy: serve stores events without pandas)

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and dicts
        return False
