"""Typed columns of each log kind: one table layout shared by both worlds' query layer.

The course's payload fields (HANDSON.md step 4) map to snake_case columns so that the
analytics SQL reads the same whatever stored the events. Every table also has ``ts``: the
record's ``Datetime`` as microseconds since the epoch, UTC. Fields a record carries beyond
these (a board's ``MagX``, a producer's own extras) are kept verbatim in ``extra`` (JSON), so
nothing a device sends is lost.

Datetime formats: auth/analysis use ``YYYY-mm-dd HH:MM:SS`` and door/sensor ISO with ``Z``;
a time without a zone is read as UTC (the course stamps with the device clock in UTC).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

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


def parse_datetime_us(value) -> int | None:
    """Microseconds since the epoch (UTC) of a course Datetime, or None when unreadable."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            stamp = pd.to_datetime(text, utc=True, errors="coerce")
            if pd.isna(stamp):
                return None
            return int(stamp.value // 1000)
    else:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING = object()


def _coerce(value, kind: str):
    """The typed value, or _MISSING when ``value`` does not fit (it is then kept in extra)."""
    if value is None:
        return None
    if kind == "TEXT":
        return value if isinstance(value, str) else _MISSING
    if kind == "BOOL":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        return _MISSING
    if isinstance(value, bool):
        return _MISSING
    if kind == "INT":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _MISSING
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return _MISSING


def to_row(kind: str, record: dict) -> tuple:
    """``(ts, typed columns..., extra)`` for one payload. Fields that do not fit their type,
    unknown fields and an unreadable Datetime go to ``extra`` verbatim."""
    extra = {}
    ts = parse_datetime_us(record.get("Datetime"))
    if ts is None and "Datetime" in record:
        extra["Datetime"] = record["Datetime"]
    row = [ts]
    known = {"Datetime"}
    for field, _, typ in KIND_COLUMNS[kind]:
        known.add(field)
        value = _coerce(record.get(field), typ)
        if value is _MISSING:
            extra[field] = record[field]
            value = None
        row.append(value)
    for key, value in record.items():
        if key not in known:
            extra[key] = value
    row.append(json.dumps(extra, ensure_ascii=False, default=str) if extra else None)
    return tuple(row)


def to_payload_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns (``ts``, ..., ``extra``) back to the course's payload fields, plus
    ``Datetime`` as UTC timestamps; optional fields that are empty everywhere are dropped."""
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
    if "extra" in frame and frame["extra"].notna().any():
        extras = frame["extra"].dropna().map(json.loads)
        for idx, values in extras.items():
            for key, value in values.items():
                if key == "Datetime":
                    continue  # unreadable time: Datetime stays NaT, the raw text is in "RawDatetime"
                if key not in out:
                    out[key] = pd.Series([None] * len(out), index=out.index, dtype="object")
                elif out[key].dtype != "object":
                    out[key] = out[key].astype("object")
                out.at[idx, key] = value
            if "Datetime" in values:
                if "RawDatetime" not in out:
                    out["RawDatetime"] = pd.Series([None] * len(out), index=out.index, dtype="object")
                out.at[idx, "RawDatetime"] = values["Datetime"]
    # Not payload fields: when the message arrived and who sent it (local world).
    if "received" in frame:
        out["ReceivedAt"] = pd.to_datetime(frame["received"], unit="us", utc=True)
    if "sender" in frame:
        out["SentBy"] = frame["sender"].astype("object")
    return out.reset_index(drop=True)


def from_payload_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Payload-named events (as ``EventStore.query`` returns them) to the typed columns, for
    loading into DuckDB; used by stores without a columnar copy of their own (aws)."""
    out = pd.DataFrame(index=frame.index)
    if "Datetime" in frame and len(frame):
        stamps = pd.to_datetime(frame["Datetime"], utc=True, errors="coerce", format="mixed")
        # as_unit: pandas may hold ns or us; the columns are always microseconds.
        out["ts"] = stamps.dt.as_unit("us").astype("int64").where(stamps.notna()).astype("Int64")
    else:
        out["ts"] = pd.Series([], dtype="Int64") if not len(frame) else pd.NA
    for field, column, typ in KIND_COLUMNS[kind]:
        if field in frame:
            series = frame[field]
            if typ in ("BOOL", "INT", "REAL"):
                series = series.map(lambda v, t=typ: _coerce(v, t)).map(lambda v: None if v is _MISSING else v)
            out[column] = series.astype(PANDAS_TYPES[typ])
        else:
            out[column] = pd.Series([None] * len(frame), index=frame.index, dtype=PANDAS_TYPES[typ])
    return out.reset_index(drop=True)
