"""Realistic demo events so the dashboards can be explored on a fresh machine.

Several devices at doors, registered people who come mostly on weekday office hours, some
unknown visitors, one analysis record per captured face, a door-open record when a person
was identified, and sensor streams (a distance sensor on every device, accelerometer and
gyroscope on the last one). Everything goes through ``EventStore.append`` with the course's
payloads (``core.events.records``), like the rule engine writes them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.errors import InvalidParameter
from core.events.port import EventStore

PEOPLE = {  # name: (gender, typical age)
    "Taro_Yamada": ("Male", 34),
    "Hanako_Sato": ("Female", 28),
    "Kenji_Suzuki": ("Male", 45),
    "Yui_Takahashi": ("Female", 23),
    "Sora_Ito": ("Male", 31),
    "Mei_Watanabe": ("Female", 52),
    "Haruto_Kobayashi": ("Male", 19),
    "Aoi_Nakamura": ("Female", 38),
}
BATCH = 50_000


def _stamps(when_us: np.ndarray, fmt: str, zone=None) -> list[str]:
    """``iso``: UTC ``YYYY-mm-ddTHH:MM:SS``; ``local``: ``YYYY-mm-dd HH:MM:SS`` in ``zone``
    (the course's auth/analysis stamps, read back in ``FACEGATE_TIMEZONE``)."""
    if fmt == "iso":
        return np.datetime_as_string(when_us.astype("datetime64[us]").astype("datetime64[s]"), unit="s").tolist()
    stamps = pd.to_datetime(when_us, unit="us", utc=True)
    if zone is not None:
        stamps = stamps.tz_convert(zone)
    return stamps.strftime("%Y-%m-%d %H:%M:%S").tolist()


def generate_demo_events(
    store: EventStore,
    events: int,
    days: int = 30,
    devices: int = 4,
    first_device: str = "id001",
    seed: int | None = None,
    end: datetime | None = None,
    utc_offset_minutes: int | None = None,
    zone=None,
) -> dict[str, int]:
    """Append about ``events`` events spread over the last ``days`` days, visits mostly in
    office hours of the time zone ``utc_offset_minutes`` east of UTC (default: this machine's);
    auth/analysis times are written in ``zone`` as the course's devices write them (UTC
    when not given).
    Returns the number stored per kind. Raises InvalidParameter for non-positive sizes."""
    if events < 1 or days < 1 or devices < 1:
        raise InvalidParameter("events, days and devices must be at least 1")
    rng = np.random.default_rng(seed)
    if utc_offset_minutes is None:
        offset = datetime.now().astimezone().utcoffset() or timedelta(0)
        utc_offset_minutes = int(offset.total_seconds() // 60)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    device_ids = [first_device] + [f"id{n:03d}" for n in range(2, devices + 1) if f"id{n:03d}" != first_device]
    device_ids = device_ids[:devices]
    run = uuid.uuid4().hex[:12]
    # Each capture yields auth + analysis (+ door when identified ~75%): ~2.7 events.
    n_sensor = int(events * 0.6)
    n_captures = max(1, int((events - n_sensor) / 2.7))
    counts = {}

    # Captures: weekday office hours, some evenings and weekends.
    day = rng.integers(0, days, n_captures)
    base_days = np.datetime64(start.replace(tzinfo=None), "D") + day
    weekday = (base_days.astype("int64") + 3) % 7  # 0 = Monday
    hour = np.where(
        rng.random(n_captures) < 0.85, rng.normal(12.5, 2.6, n_captures), rng.uniform(0, 24, n_captures)
    ).clip(0, 23.99)
    keep_weekend = rng.random(n_captures) < 0.3
    shift = np.where((weekday >= 5) & ~keep_weekend, -(weekday - 4), 0)  # most weekend visits move to Friday
    when = (
        (base_days + shift).astype("datetime64[us]")
        + (hour * 3_600_000_000).astype("timedelta64[us]")
        - np.timedelta64(utc_offset_minutes, "m")
    )  # local office hours -> UTC
    lo_us = int(start.timestamp() * 1e6)
    span_us = int((end - start).total_seconds() * 1e6)
    when_us = np.sort(lo_us + (when.astype("int64") - lo_us) % span_us)  # wrap the time-zone shift into range
    device = rng.choice(len(device_ids), n_captures, p=_weights(len(device_ids)))
    names = list(PEOPLE)
    known = rng.random(n_captures) < 0.8
    person = rng.choice(len(names), n_captures, p=_weights(len(names)))
    opened = known & (rng.random(n_captures) < 0.93)
    stamps = _stamps(when_us, "local", zone)
    iso = [s + "Z" for s in _stamps(when_us, "iso")]
    pictures = [
        f"capture{i:07d}_{s.replace('-', '').replace(' ', '').replace(':', '')}.jpg" for i, s in enumerate(stamps)
    ]

    auth = []
    analysis = []
    door = []
    for i in range(n_captures):
        dev = device_ids[device[i]]
        if known[i]:
            name = names[person[i]]
            gender, age = PEOPLE[name]
            auth.append(
                {
                    "DeviceID": dev,
                    "Datetime": stamps[i],
                    "AuthenticationResult": True,
                    "PictureName": pictures[i],
                    "Person": name,
                }
            )
            if opened[i]:
                door.append({"DeviceID": dev, "Datetime": iso[i], "Person": name})
        else:
            gender, age = ("Male" if rng.random() < 0.5 else "Female"), int(rng.integers(16, 70))
            auth.append(
                {"DeviceID": dev, "Datetime": stamps[i], "AuthenticationResult": False, "PictureName": pictures[i]}
            )
        low = max(0, age - int(rng.integers(2, 7)))
        analysis.append(
            {
                "Datetime": stamps[i],
                "AgeRange-Low": low,
                "AgeRange-High": low + int(rng.integers(6, 12)),
                "Gender": gender,
                "Smile": bool(rng.random() < 0.4),
                "Eyeglasses": bool(rng.random() < 0.3),
                "Sunglasses": bool(rng.random() < 0.03),
                "Beard": None,
                "Mustache": None,
                "EyesOpen": bool(rng.random() < 0.9),
                "MouthOpen": bool(rng.random() < 0.2),
            }
        )
    counts["auth"] = _append(store, "auth", auth, run)
    counts["analysis"] = _append(store, "analysis", analysis, run)
    counts["door"] = _append(store, "door", door, run)
    del auth, analysis, door

    # Sensors: a reading every few seconds per device, a daily cycle plus noise.
    per_device = max(1, n_sensor // len(device_ids))
    step_us = max(1, int((end - start).total_seconds() * 1e6 / per_device))
    total = 0
    start_us = int(start.timestamp() * 1e6)
    for d, dev in enumerate(device_ids):
        t_us = start_us + np.arange(per_device, dtype="int64") * step_us
        hours = (t_us // 3_600_000_000) % 24
        value = (120 + 40 * np.sin((hours - 6) / 24 * 2 * np.pi) + rng.normal(0, 8, per_device) + d * 15).round(1)
        stamps_s = [s + "Z" for s in _stamps(t_us, "iso")]
        with_motion = d == len(device_ids) - 1 and len(device_ids) > 1
        if with_motion:
            ax, ay, az = (rng.normal(0, 0.2, per_device).round(3) for _ in range(3))
            gx, gy, gz = (rng.normal(0, 1.5, per_device).round(3) for _ in range(3))
            rows = [
                {
                    "DeviceID": dev,
                    "Datetime": s,
                    "Value": float(v),
                    "AccelX": float(a),
                    "AccelY": float(b),
                    "AccelZ": float(c) + 9.8,
                    "GyroX": float(e),
                    "GyroY": float(f),
                    "GyroZ": float(g),
                }
                for s, v, a, b, c, e, f, g in zip(stamps_s, value, ax, ay, az, gx, gy, gz, strict=True)
            ]
        else:
            rows = [{"DeviceID": dev, "Datetime": s, "Value": float(v)} for s, v in zip(stamps_s, value, strict=True)]
        total += _append(store, "sensor", rows, f"{run}-{d}")
    counts["sensor"] = total
    return counts


def _weights(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** 0.6  # some devices and people are busier than others
    return w / w.sum()


def _append(store: EventStore, kind: str, records: list[dict], run: str) -> int:
    stored = 0
    for lo in range(0, len(records), BATCH):
        chunk = records[lo : lo + BATCH]
        stored += store.append(kind, chunk, [f"demo-{run}-{kind}-{lo + i}" for i in range(len(chunk))])
    return stored
