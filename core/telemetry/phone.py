"""Turning the phone-sensor component's readings into the course's ``sensorLogData`` records.

The browser sends ``{"seq": n, "readings": [{"t": ms, "ax", "ay", "az", "value", "gx", "gy", "gz",
"lat", "lon", "acc", "sim"}...]}``; anything else is refused here, so a page never publishes
what a tampered browser made up beyond plain numbers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from core.errors import InvalidParameter
from core.events.records import sensor_record

MAX_READINGS = 50  # per hand-over; the component sends about one batch a second at <= 10 Hz
# Reading time from the phone, accepted when within this many seconds of the server's clock.
MAX_CLOCK_SKEW_S = 24 * 3600
_AXES = {
    "ax": "AccelX",
    "ay": "AccelY",
    "az": "AccelZ",
    "gx": "GyroX",
    "gy": "GyroY",
    "gz": "GyroZ",
    "lat": "Latitude",
    "lon": "Longitude",
    "acc": "Accuracy",
}


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameter(f"sensor reading {name} must be a number")
    return float(value)


def iso_utc_ms(when: datetime) -> str:
    """``2026-04-01T09:00:00.123Z``: the course's UTC ISO format with milliseconds, so that
    several readings a second do not overwrite each other in the DeviceID/Datetime table."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def sensor_records_from_readings(device_id: str, batch, now: datetime | None = None) -> list[dict]:
    """Course sensor records for one hand-over from the component. ``Value`` is the size of the
    acceleration (m/s²); a simulated reading carries ``"Simulated": true``. Raises
    ``InvalidParameter`` for anything that is not the component's shape."""
    now = now or datetime.now(UTC)
    if not isinstance(batch, dict) or not isinstance(batch.get("readings"), list):
        raise InvalidParameter("sensor batch must be an object with a readings list")
    readings = batch["readings"]
    if len(readings) > MAX_READINGS:
        raise InvalidParameter(f"at most {MAX_READINGS} readings per batch")
    records = []
    for reading in readings:
        if not isinstance(reading, dict):
            raise InvalidParameter("each sensor reading must be an object")
        t = _number(reading.get("t"), "t")
        when = now
        if t is not None and abs(t / 1000 - now.timestamp()) <= MAX_CLOCK_SKEW_S:
            when = datetime.fromtimestamp(t / 1000, UTC)
        axes = {field: _number(reading.get(key), key) for key, field in _AXES.items()}
        record = sensor_record(device_id, when, _number(reading.get("value"), "value"), **axes)
        record["Datetime"] = iso_utc_ms(when)
        if reading.get("sim") is True:
            record["Simulated"] = True
        records.append(record)
    return records
